//! Shared fixture: a temp dir, the two fakes, a config pointing at them, and
//! the binary as a child process whose stderr is kept for assertions.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use picoclaw_testkit::fake_llm::{FakeLlm, Step};
pub use picoclaw_testkit::fake_telegram::FakeTelegram;

pub const BIN: &str = env!("CARGO_BIN_EXE_picoclaw");
pub const TOKEN: &str = "123456:TEST-token-for-e2e";
/// The allowed user (also their private chat id).
pub const USER: i64 = 4242;
pub const WAIT: Duration = Duration::from_secs(30);

/// A directory removed on drop (kept when the test panics, for debugging,
/// and its path is in the panic message via `Picoclaw::stderr`).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("picoclaw-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A running (or stopped) picoclaw with its fakes.
pub struct Picoclaw {
    pub dir: TempDir,
    pub tg: FakeTelegram,
    pub llm: FakeLlm,
    pub config: PathBuf,
    child: Option<Child>,
    starts: u32,
}

/// The config every e2e test starts from; `extra` is appended (it may add
/// keys to a new table, or whole tables).
pub fn config_text(dir: &Path, tg: &FakeTelegram, llm: &FakeLlm, extra: &str) -> String {
    format!(
        r#"[agent]
workspace = "{ws}"
shutdown_timeout_secs = 5

[store]
dir = "{state}"

[log]
level = "debug"

[channels.telegram]
token = "{TOKEN}"
api_base = "{api}"
allow_from = [{USER}]
poll_timeout_secs = 1

[[providers]]
name = "primary"
kind = "openai"
base_url = "{llm}"
model = "test-model"
api_key = "sk-e2e-primary-key"
timeout_secs = 5
max_retries = 1

{extra}
"#,
        ws = dir.join("workspace").display(),
        state = dir.join("state").display(),
        api = tg.api_base(),
        llm = llm.openai_base(),
    )
}

impl Picoclaw {
    /// Fakes started, config written (mode 600), binary not started yet.
    pub fn new(tag: &str) -> Picoclaw {
        Picoclaw::with_config(tag, "")
    }

    pub fn with_config(tag: &str, extra: &str) -> Picoclaw {
        let dir = TempDir::new(tag);
        let tg = FakeTelegram::start(TOKEN);
        let llm = FakeLlm::start_with_key("sk-e2e-primary-key");
        let config = dir.path().join("config.toml");
        write_private(&config, &config_text(dir.path(), &tg, &llm, extra));
        Picoclaw {
            dir,
            tg,
            llm,
            config,
            child: None,
            starts: 0,
        }
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join(format!("stderr-{}.log", self.starts))
    }

    /// Starts the daemon; stderr goes to a per-start log file.
    pub fn start(&mut self) -> &mut Picoclaw {
        self.start_with(|_| {})
    }

    pub fn start_with(&mut self, tweak: impl FnOnce(&mut Command)) -> &mut Picoclaw {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let log = fs::File::create(self.stderr_path()).expect("stderr log");
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("PICOCLAW_LOG")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        tweak(&mut cmd);
        self.child = Some(cmd.spawn().expect("spawn picoclaw"));
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// All stderr output of every start so far.
    pub fn stderr(&self) -> String {
        let mut out = String::new();
        for i in 1..=self.starts {
            let p = self.dir.path().join(format!("stderr-{i}.log"));
            out.push_str(&fs::read_to_string(p).unwrap_or_default());
        }
        out
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.pid() as i32;
        // SAFETY: sending a signal to our own child.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Waits for the process to exit; `None` on timeout (then kills it).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.stderr().contains(needle))
    }

    /// The user sends `text` in their private chat.
    pub fn say(&self, text: &str) -> i64 {
        self.tg.push_text(USER, USER, "alice", text)
    }

    /// Waits for `n` messages in total and returns their visible texts.
    pub fn replies(&self, n: usize) -> Vec<String> {
        self.tg
            .wait_for_sent(n, WAIT)
            .into_iter()
            .map(|m| m.visible)
            .collect()
    }
}

impl Drop for Picoclaw {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).expect("write file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs the binary to completion with the given args.
pub fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PICOCLAW_CONFIG")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .output()
        .expect("run picoclaw")
}
