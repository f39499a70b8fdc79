//! `[sandbox]`: how tool commands are confined and limited.

use std::fmt::Write;
use std::path::PathBuf;

use picoclaw_sandbox::{Backend, Limits, Mode};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::raw::IdOrName;
use crate::render::{list, q};
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSandbox {
    pub mode: Option<String>,
    pub backend: Option<String>,
    pub tool_user: Option<IdOrName>,
    pub allow_net_ports: Option<Vec<u16>>,
    pub extra_read_paths: Option<Vec<String>>,
    pub cpu_secs: Option<u64>,
    pub memory_mib: Option<u64>,
    pub file_size_mib: Option<u64>,
    pub max_processes: Option<u64>,
    pub max_open_files: Option<u64>,
    pub output_limit_kib: Option<u64>,
}

/// Who tool processes run as when picoclaw is root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolUser {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub mode: Mode,
    pub backend: Backend,
    pub tool_user: ToolUser,
    pub allow_net_ports: Vec<u16>,
    pub extra_read_paths: Vec<PathBuf>,
    pub cpu_secs: u64,
    pub memory_mib: u64,
    pub file_size_mib: u64,
    pub max_processes: u64,
    pub max_open_files: u64,
    pub output_limit_kib: u64,
}

pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawSandbox>,
) -> Result<SandboxConfig, ConfigError> {
    let s = raw.unwrap_or_default();
    let d = Limits::default();
    let mode = match s.mode.as_deref() {
        None => Mode::Enforce,
        Some(m) => Mode::parse(m).ok_or_else(|| {
            ctx.invalid(
                "sandbox.mode",
                format!("unknown mode {m:?}; use enforce, best_effort or off"),
            )
        })?,
    };
    let backend = match s.backend.as_deref() {
        None => Backend::default(),
        Some(b) => Backend::parse(b).ok_or_else(|| {
            ctx.invalid(
                "sandbox.backend",
                format!("unknown backend {b:?}; use auto, landlock, namespaces or both"),
            )
        })?,
    };
    let tool_user =
        match s.tool_user {
            None => ToolUser::Name(String::from("nobody")),
            Some(IdOrName::Id(id)) => ToolUser::Id(u32::try_from(id).map_err(|_| {
                ctx.invalid("sandbox.tool_user", format!("{id} is not a valid uid"))
            })?),
            Some(IdOrName::Name(n)) if n.trim().is_empty() => {
                return Err(ctx.invalid("sandbox.tool_user", "must not be empty"))
            }
            Some(IdOrName::Name(n)) => ToolUser::Name(n),
        };
    let mut extra_read_paths = Vec::new();
    for (i, p) in s.extra_read_paths.unwrap_or_default().iter().enumerate() {
        extra_read_paths.push(ctx.path_value(&format!("sandbox.extra_read_paths[{i}]"), p)?);
    }
    Ok(SandboxConfig {
        mode,
        backend,
        tool_user,
        allow_net_ports: s.allow_net_ports.unwrap_or_default(),
        extra_read_paths,
        cpu_secs: ctx.range("sandbox.cpu_secs", s.cpu_secs, d.cpu_secs, 1, 86_400)?,
        memory_mib: ctx.range(
            "sandbox.memory_mib",
            s.memory_mib,
            d.address_space_bytes >> 20,
            16,
            1 << 20,
        )?,
        file_size_mib: ctx.range(
            "sandbox.file_size_mib",
            s.file_size_mib,
            d.file_size_bytes >> 20,
            1,
            1 << 20,
        )?,
        max_processes: ctx.range(
            "sandbox.max_processes",
            s.max_processes,
            d.processes,
            4,
            100_000,
        )?,
        max_open_files: ctx.range(
            "sandbox.max_open_files",
            s.max_open_files,
            d.open_files,
            16,
            1 << 20,
        )?,
        output_limit_kib: ctx.range(
            "sandbox.output_limit_kib",
            s.output_limit_kib,
            (d.output_bytes >> 10) as u64,
            4,
            1 << 20,
        )?,
    })
}

pub(crate) fn render(s: &SandboxConfig, o: &mut String) {
    let user = match &s.tool_user {
        ToolUser::Name(n) => q(n),
        ToolUser::Id(id) => id.to_string(),
    };
    let _ = writeln!(
        o,
        "[sandbox]\nmode = {}\nbackend = {}\ntool_user = {user}",
        q(s.mode.as_str()),
        q(s.backend.as_str())
    );
    let _ = writeln!(o, "allow_net_ports = {}", list(&s.allow_net_ports, false));
    let extra: Vec<String> = s
        .extra_read_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = writeln!(o, "extra_read_paths = {}", list(&extra, true));
    let _ = writeln!(
        o,
        "cpu_secs = {}\nmemory_mib = {}\nfile_size_mib = {}",
        s.cpu_secs, s.memory_mib, s.file_size_mib
    );
    let _ = writeln!(
        o,
        "max_processes = {}\nmax_open_files = {}\noutput_limit_kib = {}",
        s.max_processes, s.max_open_files, s.output_limit_kib
    );
}
