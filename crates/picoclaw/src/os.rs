//! The host plumbing the binary needs: who the tool user is (read from
//! `/etc/passwd` once per process), private directories, and handing the
//! workspace to the tool user.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use picoclaw_config::{Config, ToolUser};

use crate::Failure;

/// Whether picoclaw runs as root (then tools run as the tool user).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `(uid, gid)` of `sandbox.tool_user`, only when picoclaw is root. Looked
/// up once: the config's tool user cannot change without a restart.
pub fn tool_ids(config: &Config) -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| is_root().then(|| lookup(&config.sandbox.tool_user)))
}

fn lookup(user: &ToolUser) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = |pred: &dyn Fn(&str, u32) -> bool| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid = f.get(2)?.parse::<u32>().ok()?;
            let gid = f.get(3)?.parse::<u32>().ok()?;
            pred(f.first()?, uid).then_some((uid, gid))
        })
    };
    match user {
        ToolUser::Id(id) => entry(&|_, u| u == *id).unwrap_or((*id, *id)),
        ToolUser::Name(name) => entry(&|n, _| n == name).unwrap_or_else(|| {
            picoclaw_core::warn!(
                "sandbox.tool_user {name:?} is not in /etc/passwd; using 65534 (nobody)"
            );
            (65534, 65534)
        }),
    }
}

/// Creates `dir` (and parents) with mode 0700 when missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))
}

/// Creates the workspace (0700), hands it to the tool user when there is
/// one, and returns its canonical path.
pub fn prepare_workspace(
    ws: &Path,
    state_dir: &Path,
    ids: Option<(u32, u32)>,
) -> Result<PathBuf, Failure> {
    ensure_private_dir(ws)?;
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(ws, Some(uid), Some(gid)).map_err(|e| {
            Failure::Runtime(format!(
                "cannot hand workspace {} to uid {uid}: {e}",
                ws.display()
            ))
        })?;
        // The default workspace sits in the 0700 state dir; the tool user
        // may pass through it (0711: no listing, no reading the DB).
        let mut dir = ws.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(state_dir)) {
            if let Ok(meta) = std::fs::metadata(d) {
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o001 == 0 {
                    let _ =
                        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o011));
                }
            }
            dir = d.parent();
        }
    }
    ws.canonicalize()
        .map_err(|e| Failure::Runtime(format!("workspace {}: {e}", ws.display())))
}
