//! The system prompt: a short built-in preamble, the user's workspace files
//! (IDENTITY.md, SOUL.md, AGENTS.md, USER.md, MEMORY.md) when present, and
//! configured extra instructions. Tool schemas travel in the API's `tools`
//! field, so they are not repeated here: every byte is sent on every call.
//!
//! The files are re-read only when one of them changes (size or mtime), and
//! only from the blocking pool: the event loop never touches the disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Files read from the workspace root, in this order.
pub const WORKSPACE_FILES: [&str; 5] = [
    "IDENTITY.md",
    "SOUL.md",
    "AGENTS.md",
    "USER.md",
    "MEMORY.md",
];

/// Each file is cut to this many bytes so one large MEMORY.md cannot eat the
/// whole context window.
const FILE_CAP: usize = 8 * 1024;

const PREAMBLE: &str = "You are picoclaw, a personal assistant running on a small Linux device. \
Answer concisely. You can use tools to read and change files in your workspace and to run \
commands in a sandbox without network access. Paths are relative to the workspace.";

/// What identifies one version of the workspace files: (size, mtime) each.
type Stamp = [Option<(u64, SystemTime)>; WORKSPACE_FILES.len()];

/// A part of the system prompt that others keep current (the skills
/// listing). Called from the blocking pool on every prompt build, so it
/// may read the disk but should cache.
pub trait PromptSection: Send + Sync {
    /// The section's text (starting with its `## ` heading), or `None`.
    fn section(&self) -> Option<String>;
}

/// The system prompt for one workspace, cached by file stamps.
pub struct Persona {
    workspace: PathBuf,
    extra: Option<String>,
    sections: Vec<Arc<dyn PromptSection>>,
    cache: Mutex<Option<(Stamp, Arc<str>)>>,
}

impl std::fmt::Debug for Persona {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persona")
            .field("workspace", &self.workspace)
            .field("sections", &self.sections.len())
            .finish_non_exhaustive()
    }
}

impl Persona {
    pub fn new(workspace: PathBuf, extra: Option<String>) -> Persona {
        Persona {
            workspace,
            extra,
            sections: Vec::new(),
            cache: Mutex::new(None),
        }
    }

    /// The same persona with one more section, placed after the
    /// workspace files.
    pub fn with_section(&self, section: Arc<dyn PromptSection>) -> Persona {
        let mut sections = self.sections.clone();
        sections.push(section);
        Persona {
            workspace: self.workspace.clone(),
            extra: self.extra.clone(),
            sections,
            cache: Mutex::new(None),
        }
    }

    /// The prompt, naming `tools` (empty: a call without tools). Blocking:
    /// five `stat` calls, and a re-read when something changed. Call it
    /// from the blocking pool.
    pub fn prompt(&self, tools: &[String]) -> Arc<str> {
        let stamp = stamp(&self.workspace);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let files = match cache.as_ref() {
            Some((s, text)) if *s == stamp => text.clone(),
            _ => {
                let text: Arc<str> = read_files(&self.workspace).into();
                *cache = Some((stamp, text.clone()));
                text
            }
        };
        drop(cache);
        let mut files = files.to_string();
        for section in self.sections.iter().filter_map(|s| s.section()) {
            files.push_str("\n\n");
            files.push_str(&section);
        }
        assemble(&files, self.extra.as_deref(), tools).into()
    }
}

fn stamp(workspace: &Path) -> Stamp {
    WORKSPACE_FILES.map(|name| {
        let meta = std::fs::metadata(workspace.join(name)).ok()?;
        Some((meta.len(), meta.modified().ok()?))
    })
}

/// The workspace files section, as it appears in the prompt.
fn read_files(workspace: &Path) -> String {
    let mut out = String::new();
    for name in WORKSPACE_FILES {
        let Ok(text) = std::fs::read_to_string(workspace.join(name)) else {
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        out.push_str("\n\n## ");
        out.push_str(name);
        out.push('\n');
        out.push_str(cut(text, FILE_CAP));
        if text.len() > FILE_CAP {
            out.push_str("\n[… cut]");
        }
    }
    out
}

fn assemble(files: &str, extra: Option<&str>, tool_names: &[String]) -> String {
    let mut out = String::with_capacity(PREAMBLE.len() + files.len() + 256);
    out.push_str(PREAMBLE);
    if !tool_names.is_empty() {
        out.push_str("\nTools: ");
        out.push_str(&tool_names.join(", "));
        out.push('.');
    }
    out.push_str(files);
    if let Some(extra) = extra {
        out.push_str("\n\n");
        out.push_str(extra);
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("picoclaw-prompt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn workspace_files_are_included_in_order_and_capped() {
        let dir = tempdir("order");
        std::fs::write(dir.join("USER.md"), "The user is Ada.").unwrap();
        std::fs::write(dir.join("SOUL.md"), "Be kind.").unwrap();
        std::fs::write(dir.join("MEMORY.md"), "é".repeat(FILE_CAP)).unwrap();
        let persona = Persona::new(dir.clone(), Some("Extra rule.".into()));
        let p = persona.prompt(&["read_file".into()]);
        let soul = p.find("## SOUL.md\nBe kind.").unwrap();
        let user = p.find("## USER.md\nThe user is Ada.").unwrap();
        assert!(soul < user);
        assert!(p.contains("[… cut]"));
        assert!(p.ends_with("Extra rule."));
        assert!(p.contains("Tools: read_file."));
        assert!(!persona.prompt(&[]).contains("Tools:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edited_file_is_picked_up_and_an_unchanged_one_is_not_reread() {
        let dir = tempdir("cache");
        std::fs::write(dir.join("USER.md"), "v1").unwrap();
        let persona = Persona::new(dir.clone(), None);
        assert!(persona.prompt(&[]).contains("v1"));
        // Same size and mtime: the cached text is used (proved by planting
        // a different cache entry under the current stamp).
        let planted: Arc<str> = Arc::from("\n\n## USER.md\ncached");
        *persona.cache.lock().unwrap() = Some((stamp(&dir), planted));
        assert!(persona.prompt(&[]).contains("cached"));
        std::fs::write(dir.join("USER.md"), "version 2").unwrap();
        assert!(persona.prompt(&[]).contains("version 2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    struct Fixed(Option<&'static str>);

    impl PromptSection for Fixed {
        fn section(&self) -> Option<String> {
            self.0.map(String::from)
        }
    }

    #[test]
    fn sections_come_after_the_workspace_files_and_before_the_extra_instructions() {
        let dir = tempdir("sections");
        std::fs::write(dir.join("USER.md"), "The user is Ada.").unwrap();
        let persona = Persona::new(dir.clone(), Some("Extra rule.".into()))
            .with_section(Arc::new(Fixed(Some("## Skills\n- a: b"))))
            .with_section(Arc::new(Fixed(None)));
        let p = persona.prompt(&[]);
        assert!(
            p.ends_with("## USER.md\nThe user is Ada.\n\n## Skills\n- a: b\n\nExtra rule."),
            "{p}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cut_never_splits_a_character() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 5), "abc");
    }
}
