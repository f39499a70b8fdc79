#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picoclaw_core::{Cancel, Tool, ToolContext, ToolOutput};
use picoclaw_mcp::{McpManager, PlainLauncher, ServerOptions, ServerStatus, Transport};
use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "picoclaw-mcp-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn python() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

pub fn support(file: &str) -> String {
    format!("{}/tests/support/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The scripted fake server with `flags`, logging what it receives into
/// `dir`; restarts are fast so tests do not wait on backoff.
pub fn fake(name: &str, flags: &str, dir: &TempDir) -> ServerOptions {
    let mut o = ServerOptions::new(
        name,
        Transport::Stdio {
            command: python(),
            args: vec![support("fake_server.py"), flags.to_string()],
            env: vec![
                (
                    "FAKE_LOG".into(),
                    dir.path().join("log.jsonl").display().to_string(),
                ),
                (
                    "FAKE_STATE".into(),
                    dir.path().join("state").display().to_string(),
                ),
            ],
        },
    );
    o.timeout = Duration::from_secs(10);
    o.restart_backoff = (Duration::from_millis(20), Duration::from_millis(200));
    o
}

pub fn start(opts: Vec<ServerOptions>) -> McpManager {
    McpManager::start(opts, Arc::new(PlainLauncher)).unwrap()
}

pub fn start_ready(opts: Vec<ServerOptions>) -> McpManager {
    let m = start(opts);
    assert!(
        m.wait_ready(Duration::from_secs(30)),
        "not ready: {:#?}",
        m.status()
    );
    m
}

/// What the fake server received, one JSON value per message.
pub fn logged(dir: &TempDir) -> Vec<Value> {
    std::fs::read_to_string(dir.path().join("log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn status(m: &McpManager, name: &str) -> ServerStatus {
    m.status().into_iter().find(|s| s.name == name).unwrap()
}

pub fn ctx(timeout: Duration) -> ToolContext {
    ToolContext {
        workspace: std::env::temp_dir(),
        session: "test".into(),
        caller: Default::default(),
        timeout,
        cancel: Cancel::new(),
    }
}

pub fn tool(m: &McpManager, name: &str) -> Arc<dyn Tool> {
    m.tools()
        .into_iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| {
            let names: Vec<String> = m.tools().iter().map(|t| t.spec().name).collect();
            panic!("no tool {name}; have {names:?}")
        })
}

pub fn call(m: &McpManager, name: &str, args: Value) -> ToolOutput {
    tool(m, name).call(&ctx(Duration::from_secs(20)), &args)
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; "Z" in stat means it already died.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
