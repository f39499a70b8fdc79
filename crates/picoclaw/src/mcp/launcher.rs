//! Stdio MCP servers under the kernel sandbox: the exec tool's policy
//! (mode, backend, system roots, hidden paths, tool user) with the
//! server's own private directory as its workspace, its writable and
//! readable paths, and network only when `allow_net`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use picoclaw_mcp::{LaunchSpec, Launched, Launcher, Process, DEFAULT_SERVER_MEMORY};
use picoclaw_sandbox::{Policy, Running, Service};

/// Servers are long-running and multi-threaded (node starts ~10 threads):
/// at least this many processes and open files whatever `[sandbox]` says
/// for one-shot commands. RLIMIT_NPROC counts the tool user's processes
/// system-wide, exec commands included.
const MIN_PROCESSES: u64 = 256;
const MIN_OPEN_FILES: u64 = 1024;

pub struct SandboxLauncher {
    template: Policy,
    /// `<state dir>/mcp`: one private directory per server below it.
    root: PathBuf,
    state_dir: PathBuf,
    ids: Option<(u32, u32)>,
    /// The enforcement label of each server's last start.
    labels: Mutex<HashMap<String, String>>,
}

impl SandboxLauncher {
    pub fn new(template: Policy, state_dir: PathBuf, ids: Option<(u32, u32)>) -> SandboxLauncher {
        SandboxLauncher {
            template,
            root: state_dir.join("mcp"),
            state_dir,
            ids,
            labels: Mutex::new(HashMap::new()),
        }
    }

    /// What confined `server` when it was last started.
    pub fn label(&self, server: &str) -> Option<String> {
        self.labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(server)
            .cloned()
    }

    /// The policy for one server.
    pub fn policy(&self, spec: &LaunchSpec, private_dir: PathBuf) -> Policy {
        let mut p = self.template.clone();
        p.workspace = private_dir;
        p.read_only_paths
            .extend(spec.sandbox.read_paths.iter().cloned());
        p.allow_net_ports = if spec.sandbox.allow_net {
            spec.sandbox.net_ports.clone()
        } else {
            Vec::new()
        };
        // A server lives as long as picoclaw: a CPU-seconds ceiling would
        // kill it after so much work in total, however slowly spent.
        p.limits.cpu_secs = u64::MAX;
        p.limits.address_space_bytes = spec.sandbox.memory_bytes.unwrap_or(DEFAULT_SERVER_MEMORY);
        p.limits.processes = p.limits.processes.max(MIN_PROCESSES);
        p.limits.open_files = p.limits.open_files.max(MIN_OPEN_FILES);
        p
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        let dir = self.root.join(&spec.server);
        let dir = crate::os::prepare_workspace(&dir, &self.state_dir, self.ids)
            .map_err(|f| io::Error::other(f.to_string()))?;
        let policy = self.policy(spec, dir);
        let mut argv = vec![spec.command.clone()];
        argv.extend(spec.args.iter().cloned());
        let mut running = picoclaw_sandbox::start(
            &policy,
            &Service {
                argv: &argv,
                env: &spec.env,
                writable: &spec.sandbox.writable_paths,
            },
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        let label = running.enforcement().to_string();
        picoclaw_core::info!("mcp {}: started [sandbox: {label}]", spec.server);
        self.labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(spec.server.clone(), label);
        let (Some(stdin), Some(stdout), stderr) = (
            running.stdin.take(),
            running.stdout.take(),
            running.stderr.take(),
        ) else {
            return Err(io::Error::other("the server's pipes are missing"));
        };
        Ok(Launched {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: stderr.map(|e| Box::new(e) as Box<dyn io::Read + Send>),
            process: Box::new(Confined(running)),
        })
    }
}

struct Confined(Running);

impl Process for Confined {
    fn id(&self) -> u32 {
        self.0.id()
    }

    fn exited(&mut self) -> Option<String> {
        match self.0.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("wait failed: {e}")),
        }
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
    }
}
