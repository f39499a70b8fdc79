//! `edit_file`: replace one exact, unique piece of text in a file.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::{json, Value};

use crate::args::{show, Args};
use crate::beneath::{describe, relative, write_atomic, Parents, Root};
use crate::read::workspace_error;
use crate::sys;
use crate::write::replaceable;
use crate::FileLimits;

/// Replaces `old_text` with `new_text` in a text file. `old_text` must
/// occur exactly once (overlapping occurrences count), so the model cannot
/// edit the wrong place by accident. Read and write go through the same
/// directory fd, and the write is atomic.
#[derive(Debug, Clone)]
pub struct EditFile {
    max_bytes: usize,
}

impl EditFile {
    pub fn new(limits: &FileLimits) -> Self {
        EditFile {
            max_bytes: limits.max_write_bytes,
        }
    }
}

impl Tool for EditFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "edit_file".into(),
            description: "Replace old_text with new_text in a file. old_text must match exactly once, whitespace included; add surrounding lines if it is ambiguous.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative to the workspace"},
                    "old_text": {"type": "string"},
                    "new_text": {"type": "string"}
                },
                "required": ["path", "old_text", "new_text"]
            }),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        match self.run(ctx, args) {
            Ok(text) => ToolOutput::ok(text),
            Err(msg) => ToolOutput::error(msg),
        }
    }
}

impl EditFile {
    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let args = Args::new(args)?;
        let raw = args.required_str("path")?;
        let old = args.required_str("old_text")?;
        let new = args.required_str("new_text")?;
        if old.is_empty() {
            return Err("old_text is empty; to create or overwrite a file use write_file".into());
        }
        let rel = relative(&ctx.workspace, raw)?;
        let root = Root::open(&ctx.workspace).map_err(|e| workspace_error(&e))?;
        let entry = root
            .entry(&rel, Parents::MustExist)
            .map_err(|e| describe(&e, raw))?;
        let Some(perm) = replaceable(&entry, raw)? else {
            return Err(format!(
                "no such file: {} (use write_file to create it)",
                show(raw)
            ));
        };
        // O_NOFOLLOW: the name was a regular file a moment ago; if a
        // symlink was raced in since, fail instead of following it.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = sys::openat(entry.dir.as_raw_fd(), &entry.name, flags, 0)
            .map_err(|e| describe(&e, raw))?;
        let mut bytes = Vec::new();
        File::from(fd)
            .take(self.max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| describe(&e, raw))?;
        if bytes.len() > self.max_bytes {
            return Err(format!(
                "{} is larger than {} bytes; edit_file cannot edit it",
                show(raw),
                self.max_bytes
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{} is not UTF-8 text; edit_file only edits text", show(raw)))?;
        let at = unique_match(&text, old).map_err(|n| match n {
            0 => format!(
                "old_text not found in {}; it must match exactly, including whitespace and indentation",
                show(raw)
            ),
            n => format!(
                "old_text matches {n} places in {}; include more surrounding lines so it matches exactly once",
                show(raw)
            ),
        })?;
        let mut edited = String::with_capacity(text.len() - old.len() + new.len());
        edited.push_str(&text[..at]);
        edited.push_str(new);
        edited.push_str(&text[at + old.len()..]);
        if edited.len() > self.max_bytes {
            return Err(format!(
                "the edited file would be {} bytes; the limit is {}",
                edited.len(),
                self.max_bytes
            ));
        }
        write_atomic(&entry.dir, &entry.name, edited.as_bytes(), Some(perm))
            .map_err(|e| describe(&e, raw))?;
        let line = text[..at].matches('\n').count() + 1;
        Ok(format!(
            "edited {}: replaced 1 match at line {line} ({} bytes -> {} bytes)",
            show(raw),
            old.len(),
            new.len()
        ))
    }
}

/// Byte offset of the only occurrence of `needle`, or the number of
/// occurrences (0 or ≥ 2). Overlapping occurrences count separately: "aa"
/// in "aaa" is ambiguous.
fn unique_match(haystack: &str, needle: &str) -> Result<usize, usize> {
    let Some(first) = haystack.find(needle) else {
        return Err(0);
    };
    // Start the next search one character later to catch overlaps.
    let step = haystack[first..].chars().next().map_or(1, char::len_utf8);
    let mut count = 1;
    let mut from = first + step;
    while let Some(i) = haystack[from..].find(needle) {
        count += 1;
        from += i + haystack[from + i..]
            .chars()
            .next()
            .map_or(1, char::len_utf8);
    }
    if count == 1 {
        Ok(first)
    } else {
        Err(count)
    }
}

#[cfg(test)]
mod tests {
    use super::unique_match;

    #[test]
    fn overlapping_occurrences_make_a_match_ambiguous() {
        assert_eq!(unique_match("aaa", "aa"), Err(2));
        assert_eq!(unique_match("abcabc", "abc"), Err(2));
        assert_eq!(unique_match("héllo wörld", "wö"), Ok(7));
        assert_eq!(unique_match("héllo", "x"), Err(0));
        assert_eq!(unique_match("ééé", "éé"), Err(2));
    }
}
