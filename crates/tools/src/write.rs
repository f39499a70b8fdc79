//! `write_file`: create or replace a file, atomically.

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::{json, Value};

use crate::args::{show, Args};
use crate::beneath::{describe, relative, write_atomic, Entry, Parents, Root};
use crate::read::workspace_error;
use crate::sys::{self, Kind};
use crate::FileLimits;

/// Creates or overwrites a file inside the workspace, creating missing
/// parent directories. The write is atomic (temp file + rename in the same
/// directory) and keeps an existing file's permission bits.
#[derive(Debug, Clone)]
pub struct WriteFile {
    max_bytes: usize,
}

impl WriteFile {
    pub fn new(limits: &FileLimits) -> Self {
        WriteFile {
            max_bytes: limits.max_write_bytes,
        }
    }
}

impl Tool for WriteFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write_file".into(),
            description:
                "Create or overwrite a file in the workspace; missing parent dirs are created."
                    .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative to the workspace"},
                    "content": {"type": "string", "description": "Full new content"}
                },
                "required": ["path", "content"]
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

impl WriteFile {
    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let args = Args::new(args)?;
        let raw = args.required_str("path")?;
        let content = args.required_str("content")?;
        if content.len() > self.max_bytes {
            return Err(format!(
                "content is {} bytes; the limit is {}",
                content.len(),
                self.max_bytes
            ));
        }
        if raw.ends_with('/') {
            return Err(format!("{} ends with '/'; give a file path", show(raw)));
        }
        let rel = relative(&ctx.workspace, raw)?;
        let root = Root::open(&ctx.workspace).map_err(|e| workspace_error(&e))?;
        let entry = root
            .entry(&rel, Parents::Create)
            .map_err(|e| describe(&e, raw))?;
        let perm = replaceable(&entry, raw)?;
        write_atomic(&entry.dir, &entry.name, content.as_bytes(), perm)
            .map_err(|e| describe(&e, raw))?;
        let how = if perm.is_some() {
            "replaced"
        } else {
            "created"
        };
        Ok(format!(
            "wrote {} bytes to {} ({how})",
            content.len(),
            show(raw)
        ))
    }
}

/// Whether the tools may replace what is at `entry`: nothing, or a regular
/// file (whose permission bits are returned). Symlinks are refused rather
/// than followed, so a write can never land outside through a link — not
/// even a dangling one.
pub(crate) fn replaceable(entry: &Entry, raw: &str) -> Result<Option<u32>, String> {
    let Some(meta) = entry.existing else {
        return Ok(None);
    };
    match meta.kind {
        Kind::File => Ok(Some(meta.perm)),
        Kind::Dir => Err(format!("{} is a directory", show(raw))),
        Kind::Other => Err(format!("{} is not a regular file", show(raw))),
        Kind::Symlink => {
            let target = sys::readlinkat(&entry.dir, &entry.name)
                .map(|t| show(&t.to_string_lossy()))
                .unwrap_or_else(|_| "?".into());
            Err(format!(
                "{} is a symlink (to {target}); files are not written through symlinks, use the target's path if it is inside the workspace",
                show(raw)
            ))
        }
    }
}
