//! The system prompt: a short built-in preamble, the user's workspace files
//! (AGENTS.md, SOUL.md, USER.md, IDENTITY.md, MEMORY.md) when present, and
//! configured extra instructions. Tool schemas travel in the API's `tools`
//! field, so they are not repeated here: every byte is sent on every call.

use std::path::Path;

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

pub fn build(workspace: &Path, extra: Option<&str>, tool_names: &[String]) -> String {
    let mut out = String::from(PREAMBLE);
    if !tool_names.is_empty() {
        out.push_str("\nTools: ");
        out.push_str(&tool_names.join(", "));
        out.push('.');
    }
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

    #[test]
    fn workspace_files_are_included_in_order_and_capped() {
        let dir = std::env::temp_dir().join(format!("picoclaw-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("USER.md"), "The user is Ada.").unwrap();
        std::fs::write(dir.join("SOUL.md"), "Be kind.").unwrap();
        std::fs::write(dir.join("MEMORY.md"), "é".repeat(FILE_CAP)).unwrap();
        let p = build(&dir, Some("Extra rule."), &["read_file".into()]);
        let soul = p.find("## SOUL.md\nBe kind.").unwrap();
        let user = p.find("## USER.md\nThe user is Ada.").unwrap();
        assert!(soul < user);
        assert!(p.contains("[… cut]"));
        assert!(p.ends_with("Extra rule."));
        assert!(p.contains("Tools: read_file."));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cut_never_splits_a_character() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 5), "abc");
    }
}
