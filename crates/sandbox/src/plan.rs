//! The per-process cache of planned, opened system path rules.
//!
//! Planning walks the roots and lists every directory that contains a
//! hidden path (`/etc` above all, ~150 entries), then opens each granted
//! entry: about 1.5 ms, most of a sandboxed spawn. The result depends only
//! on the policy's roots and hidden paths and on the listings of the
//! directories the planner looked into, so it is kept, keyed by the former,
//! and checked against the latter before every use: each looked-at path is
//! re-`lstat`ed (a dozen syscalls) and any change in inode or mtime (an
//! entry created, removed or renamed in `/etc`) triggers a fresh plan.
//!
//! Not noticed: a symlink among the roots or hidden paths being re-pointed
//! (canonical forms are taken at planning time). The held `O_PATH` fds pin
//! the planned inodes; a replaced entry changes its directory's mtime, so
//! the stale fd is never used.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::landlock::{open_rules, FsView, OpenedRule, RealFs};
use crate::policy::Policy;
use crate::rules;

/// Identity of a path at planning time: `None` when it did not exist.
type Stamp = Option<(u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    path.symlink_metadata()
        .ok()
        .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec()))
}

/// An [`FsView`] that remembers every path it was asked about.
struct Recording {
    seen: RefCell<Vec<(PathBuf, Stamp)>>,
}

impl Recording {
    fn note(&self, path: &Path) {
        self.seen
            .borrow_mut()
            .push((path.to_path_buf(), stamp(path)));
    }
}

impl FsView for Recording {
    fn exists(&self, path: &Path) -> bool {
        self.note(path);
        RealFs.exists(path)
    }
    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        self.note(dir);
        RealFs.list(dir)
    }
}

struct Entry {
    read_only: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
    seen: Vec<(PathBuf, Stamp)>,
    rules: Arc<Vec<OpenedRule>>,
}

/// A handful of distinct policies per process at most (one per config);
/// beyond that the oldest plan is dropped.
const MAX_ENTRIES: usize = 4;

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The opened system rules for `policy`, planned now or reused.
pub(crate) fn system_rules(policy: &Policy) -> Arc<Vec<OpenedRule>> {
    // A panic while holding the lock leaves at worst a stale entry, which
    // the stamps below still validate.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let hit = cache
        .iter()
        .position(|e| e.read_only == policy.read_only_paths && e.hidden == policy.hidden_paths);
    if let Some(i) = hit {
        if cache[i].seen.iter().all(|(p, s)| stamp(p) == *s) {
            return Arc::clone(&cache[i].rules);
        }
        picoclaw_core::debug!("sandbox: a planned directory changed; planning again");
        cache.remove(i);
    }
    let rec = Recording {
        seen: RefCell::new(Vec::new()),
    };
    let planned = rules::system_rules(policy, &rec);
    let rules = Arc::new(open_rules(&planned));
    if cache.len() >= MAX_ENTRIES {
        cache.remove(0);
    }
    cache.push(Entry {
        read_only: policy.read_only_paths.clone(),
        hidden: policy.hidden_paths.clone(),
        seen: rec.seen.into_inner(),
        rules: Arc::clone(&rules),
    });
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_reused_until_a_watched_directory_changes() {
        let root = std::env::temp_dir().join(format!("picoclaw-plan-test-{}", std::process::id()));
        let etc = root.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("a"), "a").unwrap();
        std::fs::write(etc.join("secret"), "s").unwrap();
        let mut policy = Policy::new(&root);
        policy.read_only_paths = vec![etc.clone()];
        policy.hidden_paths = vec![etc.join("secret")];
        let names = |r: &Arc<Vec<OpenedRule>>| -> Vec<PathBuf> {
            r.iter()
                .map(|o| o.path.clone())
                .filter(|p| p.starts_with(&etc))
                .collect()
        };
        let first = system_rules(&policy);
        assert_eq!(names(&first), [etc.join("a")]);
        let again = system_rules(&policy);
        assert!(Arc::ptr_eq(&first, &again));
        // A new entry changes the directory's mtime; the pause only guards
        // against filesystems with coarse timestamps.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(etc.join("b"), "b").unwrap();
        let fresh = system_rules(&policy);
        assert_eq!(names(&fresh), [etc.join("a"), etc.join("b")]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
