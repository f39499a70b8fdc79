//! How stdio servers are started. The supervisor only sees [`Launcher`]:
//! the binary will supply one that starts servers under the kernel sandbox
//! with [`SandboxOptions`]; [`PlainLauncher`] only limits the environment.

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};

use crate::options::SandboxOptions;

/// What to start for one stdio server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The server's configured name, for logs and per-server profiles.
    pub server: String,
    pub command: String,
    pub args: Vec<String>,
    /// The configured environment; the launcher adds nothing secret.
    pub env: Vec<(String, String)>,
    pub sandbox: SandboxOptions,
}

/// A started server: its pipes and a handle to stop it.
pub struct Launched {
    pub stdin: Box<dyn Write + Send>,
    pub stdout: Box<dyn Read + Send>,
    /// Read line by line into the debug log when present.
    pub stderr: Option<Box<dyn Read + Send>>,
    pub process: Box<dyn Process>,
}

/// The running child, as far as the supervisor needs it.
pub trait Process: Send {
    fn id(&self) -> u32;
    /// `Some(description)` once the process has exited; never blocks.
    fn exited(&mut self) -> Option<String>;
    /// Stops the process for good and reaps it.
    fn kill(&mut self);
}

/// Starts stdio servers. Implementations must not pass picoclaw's own
/// environment (API keys) through.
pub trait Launcher: Send + Sync {
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched>;
}

/// Starts the command directly with an environment of PATH, HOME and LANG
/// (when picoclaw has them) plus the configured `env`; no confinement.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainLauncher;

/// Variables passed through from picoclaw's environment: enough to find
/// `node`/`npx`/`uvx` and their caches, nothing that could hold a secret.
pub const PASSED_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

impl Launcher for PlainLauncher {
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        let mut cmd = Command::new(&spec.command);
        cmd.args(&spec.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in PASSED_ENV {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        // Own process group: a Ctrl-C on picoclaw's terminal must not reach
        // the servers before picoclaw has closed them in order.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout), stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            child.kill().ok();
            child.wait().ok();
            return Err(io::Error::other("child pipes missing"));
        };
        Ok(Launched {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: stderr.map(|e| Box::new(e) as Box<dyn Read + Send>),
            process: Box::new(child),
        })
    }
}

impl Process for std::process::Child {
    fn id(&self) -> u32 {
        std::process::Child::id(self)
    }

    fn exited(&mut self) -> Option<String> {
        match self.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("wait failed: {e}")),
        }
    }

    fn kill(&mut self) {
        if let Ok(None) = self.try_wait() {
            let _ = std::process::Child::kill(self);
        }
        let _ = self.wait();
    }
}
