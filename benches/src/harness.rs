//! One picoclaw daemon under measurement: a temp dir, the two fakes
//! in-process, a config pointing at them, and /proc readers for the child.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use picoclaw_testkit::fake_discord::FakeDiscord;
use picoclaw_testkit::fake_llm::FakeLlm;
use picoclaw_testkit::fake_telegram::FakeTelegram;
use picoclaw_testkit::tls::TestCa;

pub const TOKEN: &str = "123456:BENCH-token";
pub const DISCORD_TOKEN: &str = "MTAxNjQ4ODk5.bench-discord-token";
pub const USER: i64 = 4242;
const KEY: &str = "sk-bench-key";

pub type Res<T> = Result<T, String>;

/// How the daemon reaches the fakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Http,
    /// TLS to both fakes, certificates from a CA made for the run.
    Https,
}

/// How the daemon is configured for one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// `channels.telegram.poll_timeout_secs`: 30 (the default) for idle
    /// runs, 1 for throughput runs so a quiet moment never parks the poller.
    pub poll_timeout_secs: u32,
    /// Appended to the config (extra tables).
    pub extra: &'static str,
}

pub struct Daemon {
    pub dir: PathBuf,
    pub tg: FakeTelegram,
    pub llm: FakeLlm,
    /// Set by [`Daemon::start_with_discord`].
    pub dc: Option<FakeDiscord>,
    child: Option<Child>,
    /// When `spawn` was called.
    pub spawned: Instant,
}

impl Daemon {
    /// Starts `bin` (optionally wrapped, e.g. in valgrind) with a fresh
    /// state directory.
    pub fn start(bin: &Path, setup: Setup, wrapper: &[String]) -> Res<Daemon> {
        Daemon::start_over(bin, setup, wrapper, Wire::Http)
    }

    /// Like [`Daemon::start`], with both fakes reached over `wire`.
    pub fn start_over(bin: &Path, setup: Setup, wrapper: &[String], wire: Wire) -> Res<Daemon> {
        Daemon::launch(bin, setup, wrapper, wire, None)
    }

    /// Like [`Daemon::start`], with `[channels.discord]` pointing at `dc`
    /// and this `gateway_timeout_secs`.
    pub fn start_with_discord(
        bin: &Path,
        setup: Setup,
        dc: FakeDiscord,
        gateway_timeout_secs: u32,
    ) -> Res<Daemon> {
        Daemon::launch(
            bin,
            setup,
            &[],
            Wire::Http,
            Some((dc, gateway_timeout_secs)),
        )
    }

    fn launch(
        bin: &Path,
        setup: Setup,
        wrapper: &[String],
        wire: Wire,
        discord: Option<(FakeDiscord, u32)>,
    ) -> Res<Daemon> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("picoclaw-bench-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (tg, llm, mut extra) = match wire {
            Wire::Http => (
                FakeTelegram::start(TOKEN),
                FakeLlm::start_with_key(KEY),
                String::new(),
            ),
            Wire::Https => {
                // As on a board talking to api.telegram.org: a full chain
                // check on every handshake, the CA trusted via ca_file.
                let ca = TestCa::new();
                let pem = dir.join("ca.pem");
                ca.write_pem(&pem);
                (
                    FakeTelegram::start_tls(TOKEN, ca.loopback_server()),
                    FakeLlm::start_tls(Some(KEY), ca.loopback_server()),
                    format!("\n[http]\nca_file = \"{}\"\n", pem.display()),
                )
            }
        };
        if let Some((dc, timeout)) = &discord {
            extra.push_str(&format!(
                "\n[channels.discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_base = \"{}\"\n\
                 allow_from = [\"4242\"]\nowners = [\"4242\"]\ngateway_timeout_secs = {timeout}\n",
                dc.api_base()
            ));
        }
        let config = dir.join("config.toml");
        write_private(&config, &(config_text(&dir, &tg, &llm, setup) + &extra))?;
        let mut cmd = command(bin, wrapper, &config, &dir.join("stderr.log"))?;
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        Ok(Daemon {
            dir,
            tg,
            llm,
            dc: discord.map(|(dc, _)| dc),
            child: Some(child),
            spawned,
        })
    }

    /// Stops the daemon (SIGTERM) and starts `bin` again on the same state
    /// directory — a restart as on a board, with the database already
    /// created — and returns the time from spawn to its first `getUpdates`.
    pub fn restart(&mut self, bin: &Path, timeout: Duration) -> Res<Duration> {
        self.terminate(timeout)?;
        let seen = self.tg.get_updates_calls();
        let config = self.dir.join("config.toml");
        let mut cmd = command(bin, &[], &config, &self.dir.join("stderr-restart.log"))?;
        self.spawned = Instant::now();
        self.child = Some(
            cmd.spawn()
                .map_err(|e| format!("spawn {}: {e}", bin.display()))?,
        );
        if self.tg.wait_for_get_updates(seen + 1, timeout) <= seen {
            return Err(format!("no getUpdates after restart within {timeout:?}"));
        }
        Ok(self.spawned.elapsed())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits for the first `getUpdates`; returns the time since spawn.
    pub fn first_poll(&self, timeout: Duration) -> Res<Duration> {
        if self.tg.wait_for_get_updates(1, timeout) < 1 {
            return Err(format!(
                "no getUpdates within {timeout:?}\n{}",
                self.stderr()
            ));
        }
        Ok(self.spawned.elapsed())
    }

    pub fn say(&self, text: &str) -> i64 {
        self.tg.push_text(USER, USER, "bench", text)
    }

    /// Waits until `n` replies were sent in total.
    pub fn wait_replies(&self, n: usize, timeout: Duration) -> Res<()> {
        let got = self.tg.wait_for_sent(n, timeout).len();
        if got < n {
            return Err(format!(
                "only {got} of {n} replies within {timeout:?}\n{}",
                tail(&self.stderr(), 2000)
            ));
        }
        Ok(())
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// A `/proc/PID/status` field in kB (VmRSS, VmHWM) or a count (Threads).
    pub fn status_field(&self, name: &str) -> Res<u64> {
        status_field(self.pid(), name)
    }

    /// SIGTERM, then waits for exit.
    pub fn terminate(&mut self, timeout: Duration) -> Res<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(String::from("daemon did not exit after SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The daemon's command line: `[wrapper…] bin --config CONFIG`, stderr to
/// `log`, proxies and systemd variables cleared.
fn command(bin: &Path, wrapper: &[String], config: &Path, log: &Path) -> Res<Command> {
    let log = fs::File::create(log).map_err(|e| e.to_string())?;
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("--config")
        .arg(config)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("PICOCLAW_LOG")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    Ok(cmd)
}

/// `/proc/PID/smaps_rollup`: (anonymous, file-backed) resident KiB. File
/// backed is `Rss − Anonymous`: the binary's own pages (a static build maps
/// no libraries), counted in RSS but clean and shareable.
pub fn rss_split(pid: u32) -> Res<(u64, u64)> {
    let text =
        fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/smaps_rollup"))
    };
    let (rss, anon) = (field("Rss")?, field("Anonymous")?);
    Ok((anon, rss.saturating_sub(anon)))
}

pub fn status_field(pid: u32, name: &str) -> Res<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn config_text(dir: &Path, tg: &FakeTelegram, llm: &FakeLlm, setup: Setup) -> String {
    format!(
        r#"[agent]
workspace = "{ws}"
shutdown_timeout_secs = 5

[store]
dir = "{state}"

[log]
level = "info"

[channels.telegram]
enabled = true
token = "{TOKEN}"
api_base = "{api}"
allow_from = [{USER}]
# The bench user owns the bot: a direct chat gets every tool.
owners = [{USER}]
poll_timeout_secs = {poll}

[[providers]]
name = "bench"
kind = "openai"
base_url = "{llm}"
model = "bench-model"
api_key = "{KEY}"
timeout_secs = 30
max_retries = 0

{extra}
"#,
        ws = dir.join("workspace").display(),
        state = dir.join("state").display(),
        api = tg.api_base(),
        llm = llm.openai_base(),
        poll = setup.poll_timeout_secs,
        extra = setup.extra,
    )
}

fn write_private(path: &Path, text: &str) -> Res<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())
}
