//! Finding skills, keeping the list current, and the prompt listing.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::frontmatter;
use crate::open;

/// How many skills the system prompt lists by default.
pub const DEFAULT_MAX_LISTED: usize = 20;
/// Longest description the listing shows (bytes); longer ones are cut.
pub const MAX_DESCRIPTION: usize = 160;
/// Longest `SKILL.md` read.
const MAX_FILE: u64 = 256 * 1024;
/// Longest skill name (the skill format's limit).
const MAX_NAME: usize = 64;

/// Where skills are looked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkillsOptions {
    /// The owner's directory of skills (`DIR/NAME/SKILL.md`). Its skills
    /// win over workspace skills of the same name: the workspace is
    /// writable by the model's tools, this directory is not.
    pub global: Option<PathBuf>,
    /// The agent's workspace; its skills live in `skills/NAME/SKILL.md`.
    pub workspace: Option<PathBuf>,
    /// Most skills named in the system prompt.
    pub max_listed: usize,
}

/// One usable skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    /// As written (the listing shows it on one line, cut).
    pub description: String,
    pub metadata: Vec<(String, String)>,
    /// The skill's directory.
    pub dir: PathBuf,
    /// Found in the workspace rather than the global directory.
    pub in_workspace: bool,
}

/// A `SKILL.md` that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// The skills found, global ones first, each group sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub skills: Vec<Skill>,
    pub problems: Vec<Problem>,
}

/// What identifies one state of the skill directories: per root, each
/// entry's name and its `SKILL.md`'s (size, mtime).
type Stamp = Vec<Vec<(String, Option<(u64, i64, i64)>)>>;

/// The skills, re-read only when a `SKILL.md` or a directory listing
/// changed. Every read goes through the blocking callers (prompt building,
/// the tool); [`Catalog::cached`] and [`Catalog::generation`] never touch
/// the disk.
#[derive(Debug)]
pub struct Catalog {
    opts: SkillsOptions,
    cache: Mutex<(Stamp, Arc<Scan>)>,
    generation: AtomicU64,
}

impl Catalog {
    /// Scans once now.
    pub fn new(opts: SkillsOptions) -> Arc<Catalog> {
        let stamp = stamp(&roots(&opts));
        let scan = Arc::new(scan(&opts));
        Arc::new(Catalog {
            opts,
            cache: Mutex::new((stamp, scan)),
            generation: AtomicU64::new(1),
        })
    }

    /// The skills as of now: a few `stat`s, and a re-read when something
    /// changed.
    pub fn current(&self) -> Arc<Scan> {
        let now = stamp(&roots(&self.opts));
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.0 != now {
            let fresh = scan(&self.opts);
            if fresh.skills != cache.1.skills {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
            *cache = (now, Arc::new(fresh));
        }
        cache.1.clone()
    }

    /// The last scan, without looking at the disk.
    pub fn cached(&self) -> Arc<Scan> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }

    /// Moves whenever the list of usable skills changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The system prompt's skills section: at most `max_listed` names with
    /// one-line descriptions of at most [`MAX_DESCRIPTION`] bytes. `None`
    /// when there are no skills. Reads the disk (see [`Catalog::current`]).
    pub fn prompt_section(&self) -> Option<String> {
        let scan = self.current();
        if scan.skills.is_empty() {
            return None;
        }
        let mut out = String::from(
            "## Skills\nInstructions for particular tasks. When one fits the task, load it with the `skill` tool and follow it.",
        );
        for s in scan.skills.iter().take(self.opts.max_listed) {
            out.push_str("\n- ");
            out.push_str(&s.name);
            out.push_str(": ");
            out.push_str(&one_line(&s.description, MAX_DESCRIPTION));
        }
        let more = scan.skills.len().saturating_sub(self.opts.max_listed);
        if more > 0 {
            out.push_str(&format!(
                "\n({more} more not listed: call `skill` with name \"*\" for all names.)"
            ));
        }
        Some(out)
    }

    /// A skill's body (the text after its frontmatter), read now.
    pub fn load(&self, name: &str) -> Result<(Skill, String), String> {
        let scan = self.current();
        let Some(skill) = scan.skills.iter().find(|s| s.name == name) else {
            return Err(format!("no skill named {name:?}"));
        };
        let body = read_skill(skill)
            .map_err(|e| format!("{}: {e}", skill.dir.display()))
            .and_then(|text| {
                frontmatter::parse(&text)
                    .map(|(_, body)| body.trim().to_string())
                    .map_err(|e| format!("{}: {e}", skill.dir.join("SKILL.md").display()))
            })?;
        Ok((skill.clone(), body))
    }

    /// The `skill` tool over this catalog.
    pub fn tool(self: &Arc<Self>) -> Arc<dyn picoclaw_core::Tool> {
        Arc::new(crate::tool::SkillTool {
            catalog: self.clone(),
        })
    }
}

/// `text` on one line (whitespace runs become one space), cut at `max`
/// bytes with an ellipsis.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.len() <= max {
        return flat;
    }
    let mut end = max;
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", flat[..end].trim_end())
}

/// `(root, in_workspace)`: the global dir, then the workspace's `skills/`.
fn roots(opts: &SkillsOptions) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    if let Some(g) = &opts.global {
        out.push((g.clone(), false));
    }
    if let Some(ws) = &opts.workspace {
        out.push((ws.join("skills"), true));
    }
    out
}

/// Opens a root: the global dir as configured; the workspace's `skills`
/// without following a symlink (the model may have planted one).
fn open_root(root: &Path, in_workspace: bool) -> io::Result<OwnedFd> {
    if in_workspace {
        let ws = root.parent().unwrap_or(Path::new("/"));
        open::dir(&open::root(ws)?, Path::new("skills"))
    } else {
        open::root(root)
    }
}

fn stamp(roots: &[(PathBuf, bool)]) -> Stamp {
    roots
        .iter()
        .map(|(root, in_ws)| {
            let Ok(fd) = open_root(root, *in_ws) else {
                return Vec::new();
            };
            open::list(&fd)
                .into_iter()
                .map(|name| {
                    let st = open::dir(&fd, Path::new(&name))
                        .ok()
                        .and_then(|d| open::stamp(&d, "SKILL.md"));
                    (name, st)
                })
                .collect()
        })
        .collect()
}

/// The same no-symlink walk as the scan.
fn read_skill(skill: &Skill) -> io::Result<String> {
    let root = skill.dir.parent().unwrap_or(Path::new("/"));
    let fd = open_root(root, skill.in_workspace)?;
    open::read(
        &open::dir(&fd, Path::new(&skill.name))?,
        "SKILL.md",
        MAX_FILE,
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Reads every root. Missing roots and entries without a `SKILL.md` are
/// not problems; everything else that keeps a skill out is.
pub(crate) fn scan(opts: &SkillsOptions) -> Scan {
    let mut out = Scan::default();
    for (root, in_workspace) in roots(opts) {
        let fd = match open_root(&root, in_workspace) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.problems.push(Problem {
                    path: root.clone(),
                    message: why(&e),
                });
                continue;
            }
        };
        for name in open::list(&fd) {
            let dir = root.join(&name);
            let file = dir.join("SKILL.md");
            let problem = |message: String| Problem {
                path: file.clone(),
                message,
            };
            let text = match open::dir(&fd, Path::new(&name))
                .and_then(|d| open::read(&d, "SKILL.md", MAX_FILE))
            {
                Ok(t) => t,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    continue
                }
                Err(e) => {
                    out.problems.push(problem(why(&e)));
                    continue;
                }
            };
            let fm = match frontmatter::parse(&text) {
                Ok((fm, _)) => fm,
                Err(e) => {
                    out.problems.push(problem(e));
                    continue;
                }
            };
            if !valid_name(&fm.name) {
                out.problems.push(problem(format!(
                    "name {:?} must be 1-{MAX_NAME} lowercase letters, digits and single hyphens",
                    fm.name
                )));
                continue;
            }
            if fm.name != name {
                out.problems.push(problem(format!(
                    "name {:?} differs from its directory {name:?}",
                    fm.name
                )));
                continue;
            }
            if out.skills.iter().any(|s| s.name == fm.name) {
                out.problems.push(problem(format!(
                    "skipped: the global skill {:?} has the same name",
                    fm.name
                )));
                continue;
            }
            out.skills.push(Skill {
                name: fm.name,
                description: fm.description,
                metadata: fm.metadata,
                dir,
                in_workspace,
            });
        }
    }
    out
}

fn why(e: &io::Error) -> String {
    if e.raw_os_error() == Some(libc::ELOOP) {
        "is a symlink; skills are read without following symlinks".into()
    } else {
        e.to_string()
    }
}
