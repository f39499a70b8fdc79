//! `picoclaw sandbox run` and `picoclaw sandbox explain`: the exec tool's
//! sandbox by hand. Both work before anything is set up: without a config
//! file (built-in defaults) a command runs in a temporary workspace that is
//! removed afterwards; with one, `run` creates the configured workspace as
//! the daemon would.

use std::path::{Path, PathBuf};

use picoclaw_config::Config;

use super::explain;
use crate::os::prepare_workspace;
use crate::setup;

/// A workspace made for one command, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create(config: &Config) -> Result<(Scratch, PathBuf), String> {
        let dir = std::env::temp_dir().join(format!("picoclaw-try-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let scratch = Scratch(dir.clone());
        // Passing the workspace itself as the "state dir" keeps
        // prepare_workspace from touching the permissions of /tmp.
        let ws =
            prepare_workspace(&dir, &dir, setup::tool_ids(config)).map_err(|e| e.to_string())?;
        Ok((scratch, ws))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `picoclaw sandbox explain`. A workspace that does not exist yet is
/// explained as an empty directory, and the output says so.
pub fn sandbox_explain(config: &Config) -> Result<String, String> {
    let ws = &config.agent.workspace;
    let caps = picoclaw_sandbox::probe();
    if ws.is_dir() {
        let policy = setup::sandbox_policy(config, ws);
        return Ok(explain::explain(&policy, &caps));
    }
    let (_scratch, tmp) = Scratch::create(config)?;
    let policy = setup::sandbox_policy(config, &tmp);
    Ok(format!(
        "note: workspace {} does not exist yet (the first run creates it); rules shown for an empty one at {}\n{}",
        ws.display(),
        tmp.display(),
        explain::explain(&policy, &caps)
    ))
}

/// `picoclaw sandbox run -- CMD…`: prints the command's output and the
/// label; returns its exit code (128 + signal when killed). `scratch`:
/// run in a temporary workspace (no config file) instead of the
/// configured one.
pub fn sandbox_run(config: &Config, scratch: bool, argv: &[String]) -> Result<i32, String> {
    let (_guard, ws) = if scratch {
        let (g, ws) = Scratch::create(config)?;
        eprintln!("picoclaw sandbox: workspace {} (temporary)", ws.display());
        (Some(g), ws)
    } else {
        let ws = configured_workspace(config)?;
        (None, ws)
    };
    let policy = setup::sandbox_policy(config, &ws);
    let out = picoclaw_sandbox::run(
        &policy,
        picoclaw_sandbox::Cmd::Argv(argv),
        None,
        &picoclaw_core::Cancel::new(),
    )
    .map_err(|e| e.to_string())?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    eprintln!("picoclaw sandbox: {}", out.summary());
    Ok(out
        .exit_code
        .unwrap_or_else(|| 128 + out.signal.unwrap_or(0)))
}

/// The configured workspace, created and handed to the tool user as the
/// daemon does at start.
fn configured_workspace(config: &Config) -> Result<PathBuf, String> {
    let ws: &Path = &config.agent.workspace;
    prepare_workspace(ws, &config.store.dir, setup::tool_ids(config)).map_err(|e| e.to_string())
}
