//! `list_dir`: one line per entry with its type and size.

use std::ffi::OsString;
use std::fmt::Write as _;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::{json, Value};

use crate::args::{show, Args};
use crate::beneath::{describe, relative, Root};
use crate::read::workspace_error;
use crate::sys::{self, Kind};
use crate::FileLimits;

/// How many names are gathered for sorting, as a multiple of the display
/// cap; past that a huge directory is listed from a sample rather than
/// holding every name in memory.
const SORT_WINDOW: usize = 8;

/// Lists a workspace directory, sorted by name, capped at
/// `FileLimits::max_list_entries`. Symlinks are shown, not followed.
#[derive(Debug, Clone)]
pub struct ListDir {
    max_entries: usize,
}

impl ListDir {
    pub fn new(limits: &FileLimits) -> Self {
        ListDir {
            max_entries: limits.max_list_entries.max(1),
        }
    }
}

impl Tool for ListDir {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_dir".into(),
            description: "List a workspace directory: type, name and size of each entry.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative to the workspace; default \".\""}
                }
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

impl ListDir {
    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let args = Args::new(args)?;
        let raw = args.optional_str("path")?.unwrap_or(".");
        let rel = relative(&ctx.workspace, raw)?;
        let root = Root::open(&ctx.workspace).map_err(|e| workspace_error(&e))?;
        let dir = root
            .open_at(&rel, libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|e| describe(&e, raw))?;
        let window = self.max_entries.saturating_mul(SORT_WINDOW);
        let (mut names, unsorted) =
            sys::read_dir_names(&dir, window).map_err(|e| describe(&e, raw))?;
        if names.is_empty() {
            return Ok("[empty directory]".into());
        }
        names.sort_unstable();
        let hidden = names.len().saturating_sub(self.max_entries) + unsorted;
        names.truncate(self.max_entries);

        let mut out = String::new();
        for name in names {
            line(&mut out, &dir, name);
        }
        if hidden > 0 {
            let _ = write!(
                out,
                "[{hidden} more entries not shown{}]",
                if unsorted > 0 {
                    "; the directory is too large to sort, so this is a sample"
                } else {
                    ""
                }
            );
        }
        Ok(out)
    }
}

fn line(out: &mut String, dir: &std::os::fd::OwnedFd, name: OsString) {
    let shown = show(&name.to_string_lossy());
    let Ok(cname) = sys::cstring(&name) else {
        return;
    };
    // An entry that vanished or cannot be stat'ed is still listed.
    let meta = sys::lstat_at(dir, &cname).ok().flatten();
    let _ = match meta.map(|m| (m.kind, m.size)) {
        Some((Kind::Dir, _)) => writeln!(out, "dir  {shown}/"),
        Some((Kind::File, size)) => writeln!(out, "file {shown} ({size} B)"),
        Some((Kind::Symlink, _)) => {
            let target = sys::readlinkat(dir, &cname)
                .map(|t| show(&t.to_string_lossy()))
                .unwrap_or_else(|_| "?".into());
            writeln!(out, "link {shown} -> {target}")
        }
        Some((Kind::Other, _)) => writeln!(out, "other {shown}"),
        None => writeln!(out, "?    {shown}"),
    };
}
