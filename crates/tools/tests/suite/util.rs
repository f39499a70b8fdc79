//! A throwaway workspace with an `outside` sibling, and shortcuts for
//! calling the file tools through a `ToolSet` the way the agent does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use picoclaw_core::{Cancel, ToolContext, ToolOutput};
use picoclaw_tools::{file_tools, FileLimits, ToolSet};
use serde_json::Value;

pub struct Fixture {
    base: PathBuf,
    /// The workspace (canonical).
    pub ws: PathBuf,
    /// A directory next to the workspace that tools must never touch.
    pub outside: PathBuf,
    pub tools: ToolSet,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_limits(FileLimits::default())
    }

    pub fn with_limits(limits: FileLimits) -> Fixture {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "picoclaw-tools-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(base.join("ws")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        let base = std::fs::canonicalize(base).unwrap();
        Fixture {
            ws: base.join("ws"),
            outside: base.join("outside"),
            base,
            tools: ToolSet::new(file_tools(&limits)),
        }
    }

    pub fn ctx(&self) -> ToolContext {
        ToolContext {
            workspace: self.ws.clone(),
            session: "test".into(),
            caller: Default::default(),
            timeout: Duration::from_secs(30),
            cancel: Cancel::new(),
        }
    }

    /// Calls a tool with JSON arguments, as the agent does.
    pub fn call(&self, tool: &str, args: Value) -> ToolOutput {
        self.tools.call(tool, &self.ctx(), &args.to_string())
    }

    pub fn ws_path(&self, rel: &str) -> PathBuf {
        self.ws.join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.ws.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.ws.join(rel)).unwrap()
    }

    /// Names directly in `dir`, sorted.
    pub fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

pub fn ok(content: &str) -> ToolOutput {
    ToolOutput::ok(content)
}

pub fn err(content: &str) -> ToolOutput {
    ToolOutput::error(content)
}
