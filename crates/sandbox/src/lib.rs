//! Runs one tool command under the kernel's own confinement: Landlock
//! (filesystem allow-list, TCP port rules, signal and abstract-socket
//! scopes), seccomp (a deny list for escape hatches and the network),
//! rlimits, a cleared environment, a private TMPDIR, a wall-clock timeout
//! that kills the whole process group, and a bounded output capture.
//!
//! A second filesystem backend uses namespaces instead of (or, by default,
//! together with) Landlock: a private mount view holding only what is
//! allowed, its own PID, IPC and UTS namespaces and an empty network
//! namespace, for kernels without Landlock (see [`Backend`]).
//!
//! It does not use containers, cgroups or any external binary, and it
//! does not decide *what* may run: the caller builds a [`Policy`]. Nor
//! does it diagnose: [`probe`] and [`effective`] return what the kernel
//! offers and what a policy would get there as data, and the picoclaw
//! binary's doctor puts that into words and runs the live probe table.
//!
//! [`start`] runs a long-lived process (an MCP server) under the same
//! confinement and hands back the child and its pipes.
//!
//! Every [`Outcome`] carries an [`Enforcement`] label saying which layers
//! actually held.

mod bpf;
mod child;
mod effective;
mod enforce;
mod error;
mod landlock;
mod ns;
mod nsfds;
mod output;
mod plan;
mod policy;
mod probe;
mod pump;
mod rules;
mod run;
mod seccomp;
mod service;
mod spawn;

pub use effective::{
    effective, Effective, LandlockRules, Mount, MountView, PathRule, SeccompRules,
};
pub use enforce::Enforcement;
pub use error::SandboxError;
pub use policy::{default_read_only_paths, etc_secrets, Backend, Limits, Mode, Policy};
pub use probe::{probe, Capabilities};
pub use run::{run, run_with, Cmd, Outcome, DRAIN_TIMEOUT};
pub use service::{start, start_with, Running, Service};
