//! `send_file`: sends a workspace file to the chat the turn answers. The
//! call only checks the file (inside the workspace, a regular file, within
//! the channel's limit); the agent queues it in the outbox in the same
//! transaction that records the result, and the outbox uploads it, so it
//! goes out exactly once like a reply chunk.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, RwLock};

use picoclaw_core::{Caps, Image, OutFile, Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_tools::{place, Args};
use serde_json::{json, Value};

/// What each registered channel can receive, filled in by the runtime as
/// sinks are added.
pub(crate) type CapsMap = Arc<RwLock<HashMap<String, Caps>>>;

pub(crate) struct SendFile {
    pub caps: CapsMap,
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

impl Tool for SendFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: String::from("send_file"),
            description: String::from(
                "Send a workspace file to this chat (pictures as photos). It is delivered with your reply.",
            ),
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Relative to the workspace"}
            }, "required": ["path"]}),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        match self.check(ctx, args) {
            Ok(out) => out,
            Err(e) => ToolOutput::error(e),
        }
    }
}

impl SendFile {
    fn check(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
        let a = Args::new(args)?;
        let raw = a.required_str("path")?;
        let channel = ctx.caller.channel.as_str();
        let caps = self
            .caps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .copied()
            .unwrap_or_default();
        if caps.max_file_bytes == 0 {
            return Err(format!(
                "this chat ({channel}) cannot receive files; nothing was sent"
            ));
        }
        let (mut file, len, rel) = place::open_regular(&ctx.workspace, raw)?;
        if len == 0 {
            return Err(format!("{rel} is empty; nothing was sent"));
        }
        if len > caps.max_file_bytes {
            return Err(format!(
                "{rel} is {}, over the {} {channel} accepts for a file; nothing was sent. Compress or split it first.",
                human(len),
                human(caps.max_file_bytes)
            ));
        }
        let mut head = [0u8; 16];
        let n = file.read(&mut head).unwrap_or(0);
        let photo = len <= caps.max_photo_bytes && Image::sniff(&head[..n]).is_some();
        let name = place::safe_name(&rel, "file");
        let how = if photo { "a photo" } else { "a document" };
        Ok(ToolOutput::ok(format!(
            "{rel} ({}) goes to this chat as {how} with your reply.",
            human(len)
        ))
        .with_file(OutFile {
            path: rel,
            name,
            photo,
        }))
    }
}
