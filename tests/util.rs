//! Shared fixture: a temp dir, the two fakes, a config pointing at them, and
//! the binary as a child process whose stderr is kept for assertions.

#![allow(dead_code)]
// Fixture code: a failed setup step should panic with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use picoclaw_testkit::fake_llm::{FakeLlm, RecordedRequest, Step};
pub use picoclaw_testkit::fake_telegram::FakeTelegram;

pub const BIN: &str = env!("CARGO_BIN_EXE_picoclaw");
pub const TOKEN: &str = "123456:TEST-token-for-e2e";
/// The allowed user (also their private chat id).
pub const USER: i64 = 4242;
pub const WAIT: Duration = Duration::from_secs(30);
/// The API key the primary provider is configured with.
pub const LLM_KEY: &str = "sk-e2e-primary-key";

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

/// How to start picoclaw: the binary under test, or another build of it
/// (a cross-built release binary) run through a wrapper such as
/// `qemu-aarch64-static`.
#[derive(Debug, Clone)]
pub struct Exe {
    pub wrapper: Option<PathBuf>,
    pub bin: PathBuf,
}

impl Exe {
    /// The binary cargo built for these tests.
    pub fn native() -> Exe {
        Exe {
            wrapper: None,
            bin: PathBuf::from(BIN),
        }
    }

    /// A command that runs the binary; arguments go after it.
    pub fn command(&self) -> Command {
        match &self.wrapper {
            Some(w) => {
                let mut cmd = Command::new(w);
                cmd.arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        }
    }
}

/// A running (or stopped) picoclaw with its fakes.
pub struct Picoclaw {
    pub dir: TempDir,
    pub tg: FakeTelegram,
    pub llm: FakeLlm,
    pub config: PathBuf,
    /// What `start` runs; replace it before starting to test another build.
    pub exe: Exe,
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
owners = [{USER}]
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
        let tg = FakeTelegram::start(TOKEN);
        let llm = FakeLlm::start_with_key(LLM_KEY);
        Picoclaw::with_fakes(tag, tg, llm, extra)
    }

    /// With fakes started by the caller (e.g. over HTTPS: `api_base` and
    /// `base_url` follow their scheme). `extra` may name files in
    /// [`Picoclaw::dir`], relative to the config.
    pub fn with_fakes(tag: &str, tg: FakeTelegram, llm: FakeLlm, extra: &str) -> Picoclaw {
        let dir = TempDir::new(tag);
        let config = dir.path().join("config.toml");
        write_private(&config, &config_text(dir.path(), &tg, &llm, extra));
        Picoclaw {
            dir,
            tg,
            llm,
            config,
            exe: Exe::native(),
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
        let mut cmd = self.exe.command();
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

    /// The `tool` result messages picoclaw sent in model request `n`
    /// (0-based); panics, with stderr, when there was no such request.
    pub fn tool_messages(&self, n: usize) -> Vec<String> {
        let reqs = self.llm.requests();
        assert!(reqs.len() > n, "{} requests\n{}", reqs.len(), self.stderr());
        reqs[n].body["messages"]
            .as_array()
            .expect("messages array")
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap_or("").to_owned())
            .collect()
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

/// Like [`run`], with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PICOCLAW_CONFIG")
        .env_remove("PICOCLAW_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run picoclaw")
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `http://127.0.0.1:PORT/v1` where nothing listens: the port was bound
/// and released, so connecting is refused.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}

/// A `[[providers]]` entry for a fallback fake (any key accepted).
pub fn fallback_provider(name: &str, llm: &FakeLlm) -> String {
    format!(
        r#"[[providers]]
name = "{name}"
kind = "openai"
base_url = "{}"
model = "{name}-model"
timeout_secs = 5
"#,
        llm.openai_base()
    )
}

impl Picoclaw {
    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Rewrites the config file (before a start, or before SIGHUP).
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let text = fs::read_to_string(&self.config).expect("read config");
        write_private(&self.config, &edit(text));
    }

    /// The state database, opened read-only beside the running daemon.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.state_dir().join("picoclaw.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open state db")
    }

    /// Every `inbound` row as `(text, status)`, oldest first.
    pub fn inbound_rows(&self) -> Vec<(String, String)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT text, status FROM inbound ORDER BY id")
            .expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Waits until every queued reply chunk is marked sent in the store.
    /// Telegram has no idempotency key, so a kill -9 between the API
    /// accepting a chunk and that mark resends it; tests that kill right
    /// after seeing a reply wait for this first.
    pub fn wait_outbox_flushed(&self) {
        let flushed = wait_until(WAIT, || {
            self.db()
                .query_row(
                    "SELECT count(*) FROM outbox WHERE status = 'pending'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .is_ok_and(|n| n == 0)
        });
        assert!(flushed, "outbox not flushed\nstderr:\n{}", self.stderr());
    }

    /// Texts the user saw, in order.
    pub fn visible(&self) -> Vec<String> {
        self.tg.sent().into_iter().map(|m| m.visible).collect()
    }

    /// Sends `barrier <tag>` and waits for its echo, which the default
    /// responder gives once the LLM script is empty. Messages are answered
    /// and sent in order, so anything an earlier message was going to send
    /// has been sent by then. Returns every visible text sent so far.
    pub fn barrier(&self, tag: &str) -> Vec<String> {
        let want = format!("echo: barrier {tag}");
        self.say(&format!("barrier {tag}"));
        let seen = wait_until(WAIT, || self.visible().contains(&want));
        assert!(
            seen,
            "no {want:?}; sent {:?}\nstderr:\n{}",
            self.visible(),
            self.stderr()
        );
        self.visible()
    }

    /// Runs a one-shot subcommand against this fixture's config.
    pub fn run_cli(&self, args: &[&str]) -> std::process::Output {
        let config = self.config.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", config.as_str()]);
        run(&all)
    }
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
pub struct NotifySocket {
    sock: std::os::unix::net::UnixDatagram,
    pub path: PathBuf,
    seen: std::cell::RefCell<Vec<String>>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        NotifySocket {
            sock,
            path,
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Waits until a datagram equal to `state` (e.g. `READY=1`) arrived;
    /// returns every datagram received so far.
    pub fn wait_for(&self, state: &str, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 512];
        while !self.seen.borrow().iter().any(|s| s == state) && Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.borrow_mut().push(msg);
            }
        }
        self.seen.borrow().clone()
    }
}
