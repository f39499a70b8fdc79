//! From a policy to the concrete filesystem rule list (shared by `run` and
//! `explain`), plus the sanity checks on the workspace.

use std::path::{Path, PathBuf};

use crate::error::SandboxError;
use crate::landlock::{canonical_or_lexical, plan_fs, Access, FsRule, FsView};
use crate::policy::{etc_secrets, Policy};

/// Devices a shell pipeline needs; nothing else under /dev is reachable.
const DEV_READ: &[&str] = &["/dev/zero", "/dev/urandom", "/dev/random"];
/// Read-write devices: the bit bucket, the always-full device, and the
/// controlling tty (which a command in its own session never has, so
/// opening it fails with ENXIO; granted so the namespace view and the
/// Landlock view agree).
const DEV_WRITE: &[&str] = &["/dev/null", "/dev/full", "/dev/tty"];

/// The workspace, canonical, after refusing the roots that would give the
/// tool too much: `/`, `$HOME` or any ancestor of it.
pub(crate) fn check_workspace(policy: &Policy) -> Result<PathBuf, SandboxError> {
    let ws = policy.workspace.canonicalize().map_err(|e| {
        SandboxError::Policy(format!("workspace {}: {e}", policy.workspace.display()))
    })?;
    if !ws.is_dir() {
        return Err(SandboxError::Policy(format!(
            "workspace {} is not a directory",
            ws.display()
        )));
    }
    if ws == Path::new("/") {
        return Err(SandboxError::Policy("workspace must not be /".to_string()));
    }
    if let Some(home) = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok())
    {
        if home.starts_with(&ws) {
            return Err(SandboxError::Policy(format!(
                "workspace {} would expose $HOME ({})",
                ws.display(),
                home.display()
            )));
        }
    }
    Ok(ws)
}

/// Every hidden path, canonical: the built-in `/etc` secrets plus the
/// policy's own.
pub(crate) fn hidden(policy: &Policy) -> Vec<PathBuf> {
    etc_secrets()
        .iter()
        .chain(&policy.hidden_paths)
        .map(|p| canonical_or_lexical(p))
        .collect()
}

/// Refuses a hidden path inside a writable directory (workspace, tmp):
/// a writable directory cannot be split into per-entry rules without
/// breaking file creation, and a namespace bind would expose it too.
pub(crate) fn check_writable(policy: &Policy, writable: &[&Path]) -> Result<(), SandboxError> {
    let hidden = hidden(policy);
    for w in writable {
        if let Some(h) = hidden.iter().find(|h| h.starts_with(w)) {
            return Err(SandboxError::Policy(format!(
                "hidden path {} lies inside writable {}",
                h.display(),
                w.display()
            )));
        }
    }
    Ok(())
}

/// The rules that depend only on the system roots and hidden paths, not
/// on the run: these are what the plan cache keeps.
pub(crate) fn system_rules(policy: &Policy, fs: &dyn FsView) -> Vec<FsRule> {
    let hidden = hidden(policy);
    let mut roots: Vec<(PathBuf, Access)> = policy
        .read_only_paths
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .map(|p| (p, Access::ReadExec))
        .collect();
    // /proc is readable so tools can see themselves (/proc/self/*, cpuinfo,
    // meminfo). Other processes' environ, mem and exe links are guarded
    // by the ptrace access check: DAC when the tool runs as another uid,
    // Landlock's ptrace restriction when it shares picoclaw's uid. A root
    // tool keeps CAP_SYS_PTRACE and reads environ regardless (observed on
    // 6.18), one more reason enforce refuses root tools.
    roots.push((PathBuf::from("/proc"), Access::ReadOnly));
    roots.extend(
        DEV_READ
            .iter()
            .map(|d| (PathBuf::from(d), Access::ReadOnly)),
    );
    let mut rules = plan_fs(&roots, &hidden, fs);
    for dev in DEV_WRITE {
        if fs.exists(Path::new(dev)) {
            rules.push(FsRule {
                path: PathBuf::from(dev),
                access: Access::DevNull,
            });
        }
    }
    rules
}

/// The full rule list (for `explain`): system rules plus `writable` (the
/// workspace and tmp dir, already canonical).
pub(crate) fn fs_rules(
    policy: &Policy,
    writable: &[&Path],
    fs: &dyn FsView,
) -> Result<Vec<FsRule>, SandboxError> {
    check_writable(policy, writable)?;
    let mut rules = system_rules(policy, fs);
    for w in writable {
        rules.push(FsRule {
            path: w.to_path_buf(),
            access: Access::ReadWrite,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A directory tree in memory: path -> children.
    struct FakeFs(BTreeMap<PathBuf, Vec<PathBuf>>);

    impl FakeFs {
        fn new(paths: &[&str]) -> Self {
            let mut map: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            for p in paths {
                let mut child = PathBuf::from(p);
                map.entry(child.clone()).or_default();
                while let Some(parent) = child.parent().map(Path::to_path_buf) {
                    let kids = map.entry(parent.clone()).or_default();
                    if !kids.contains(&child) {
                        kids.push(child.clone());
                        kids.sort();
                    }
                    child = parent;
                }
            }
            FakeFs(map)
        }
    }

    impl FsView for FakeFs {
        fn exists(&self, path: &Path) -> bool {
            self.0.contains_key(path)
        }
        fn list(&self, dir: &Path) -> Vec<PathBuf> {
            self.0.get(dir).cloned().unwrap_or_default()
        }
    }

    fn paths(rules: &[FsRule], access: Access) -> Vec<String> {
        rules
            .iter()
            .filter(|r| r.access == access)
            .map(|r| r.path.display().to_string())
            .collect()
    }

    #[test]
    fn etc_is_granted_entry_by_entry_without_secrets_or_hidden_files() {
        let fs = FakeFs::new(&[
            "/usr/bin/sh",
            "/etc/passwd",
            "/etc/shadow",
            "/etc/ssh/sshd_config",
            "/etc/ssl/certs/ca.pem",
            "/etc/ssl/private/key.pem",
            "/etc/zz-app/public.conf",
            "/etc/zz-app/token",
        ]);
        let mut policy = Policy::new("/ws");
        policy.hidden_paths = vec!["/etc/zz-app/token".into()];
        let roots = [
            ("/usr".into(), Access::ReadExec),
            ("/etc".into(), Access::ReadExec),
            ("/proc".into(), Access::ReadOnly),
        ];
        let planned = plan_fs(&roots, &hidden(&policy), &fs);
        assert_eq!(
            paths(&planned, Access::ReadExec),
            [
                "/usr",
                "/etc/passwd",
                "/etc/ssl/certs",
                "/etc/zz-app/public.conf"
            ]
        );
        // Absent from the fake tree, so skipped rather than granted blind.
        assert_eq!(paths(&planned, Access::ReadOnly), Vec::<String>::new());
    }

    #[test]
    fn writable_dirs_and_dev_null_get_their_own_rules() {
        let fs = FakeFs::new(&["/dev/null", "/ws/a", "/t"]);
        let mut policy = Policy::new("/ws");
        policy.read_only_paths = Vec::new();
        let rules = fs_rules(&policy, &[Path::new("/ws"), Path::new("/t")], &fs).unwrap();
        assert_eq!(paths(&rules, Access::ReadWrite), ["/ws", "/t"]);
        assert_eq!(paths(&rules, Access::DevNull), ["/dev/null"]);
        assert!(!rules.iter().any(|r| r.path == Path::new("/")));
    }

    #[test]
    fn hidden_path_inside_the_workspace_is_refused() {
        let fs = FakeFs::new(&["/ws/state.db"]);
        let mut policy = Policy::new("/ws");
        policy.hidden_paths = vec!["/ws/state.db".into()];
        let err = fs_rules(&policy, &[Path::new("/ws")], &fs).unwrap_err();
        assert!(matches!(err, SandboxError::Policy(m) if m.contains("/ws/state.db")));
    }

    #[test]
    fn a_root_inside_a_hidden_dir_is_dropped_entirely() {
        let fs = FakeFs::new(&["/srv/secret/pub/a"]);
        let planned = plan_fs(
            &[("/srv/secret/pub".into(), Access::ReadExec)],
            &["/srv/secret".into()],
            &fs,
        );
        assert_eq!(planned, vec![]);
    }
}
