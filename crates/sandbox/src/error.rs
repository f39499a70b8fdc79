use std::io;

/// Why a command did not run (a command that ran and failed is an
/// [`crate::Outcome`] with a non-zero exit code, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// `sandbox.mode = "enforce"` and a layer the policy relies on is
    /// missing on this kernel or for this user. Not retryable here: change
    /// the kernel, `run_as`, or the mode.
    #[error("sandbox refused to run the command: {0}")]
    Unavailable(String),
    /// The policy cannot be honoured (workspace missing, `/` or `$HOME`,
    /// a hidden path inside the workspace). Not retryable until the
    /// configuration changes.
    #[error("sandbox policy rejected: {0}")]
    Policy(String),
    /// Preparing the sandbox in picoclaw failed (tmp dir, Landlock
    /// ruleset, seccomp compilation). Possibly retryable (fd or disk
    /// exhaustion).
    #[error("sandbox setup failed while {what}: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// fork/exec, or a step in the child before exec, failed. `step` names
    /// it ("landlock", "seccomp", "exec"...). Retryable only for transient
    /// errors such as EAGAIN from fork.
    #[error("sandboxed spawn failed at {step}: {source}")]
    Spawn {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    /// Reading the command's output or waiting for it failed. Rare;
    /// retryable.
    #[error("sandboxed command I/O failed: {0}")]
    Io(#[from] io::Error),
}
