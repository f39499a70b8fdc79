//! `read_file`: a text file's lines, paged and capped.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::{json, Value};

use crate::args::{show, Args};
use crate::beneath::{describe, relative, Root};
use crate::sys::{self, Kind};
use crate::FileLimits;

/// How much of the file's start is checked for NUL bytes to call it binary.
const SNIFF_BYTES: usize = 8192;

/// Reads a UTF-8 text file inside the workspace. Output is capped at
/// `FileLimits::max_read_bytes`, cut at a line boundary, with a footer that
/// says what was left out and which `offset` continues.
#[derive(Debug, Clone)]
pub struct ReadFile {
    max_bytes: usize,
}

impl ReadFile {
    pub fn new(limits: &FileLimits) -> Self {
        ReadFile {
            max_bytes: limits.max_read_bytes.max(1),
        }
    }
}

impl Tool for ReadFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: "Read a text file in the workspace. Long files are cut; page with offset/limit (lines).".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative to the workspace"},
                    "offset": {"type": "integer", "description": "First line, 1-based"},
                    "limit": {"type": "integer", "description": "Max lines"}
                },
                "required": ["path"]
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

impl ReadFile {
    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let args = Args::new(args)?;
        let raw = args.required_str("path")?;
        let first = args.optional_u64("offset")?.unwrap_or(1).max(1);
        let limit = match args.optional_u64("limit")? {
            Some(0) => return Err("limit must be at least 1".into()),
            other => other,
        };
        let rel = relative(&ctx.workspace, raw)?;
        let root = Root::open(&ctx.workspace).map_err(|e| workspace_error(&e))?;
        // O_NONBLOCK: opening a FIFO must not hang the agent; it is refused
        // below like any other non-regular file.
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = root.open_at(&rel, flags).map_err(|e| describe(&e, raw))?;
        let meta = sys::fstat(&fd).map_err(|e| describe(&e, raw))?;
        match meta.kind {
            Kind::File => {}
            Kind::Dir => return Err(format!("{} is a directory; use list_dir", show(raw))),
            _ => return Err(format!("{} is not a regular file", show(raw))),
        }
        let mut file = File::from(fd);
        if looks_binary(&file).map_err(|e| describe(&e, raw))? {
            return Err(format!(
                "{} looks like a binary file ({} bytes); read_file only returns text",
                show(raw),
                meta.size
            ));
        }
        let excerpt =
            read_lines(&mut file, first, limit, self.max_bytes).map_err(|e| describe(&e, raw))?;
        render(excerpt, raw, first, meta.size, self.max_bytes)
    }
}

pub(crate) fn workspace_error(e: &io::Error) -> String {
    format!("the workspace directory is not accessible: {e}")
}

fn looks_binary(file: &File) -> io::Result<bool> {
    let mut buf = vec![0u8; SNIFF_BYTES];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf[..filled].contains(&0))
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Eof,
    /// `limit` lines were taken.
    Limit,
    /// The byte cap was reached.
    Cap,
}

#[derive(Debug)]
struct Excerpt {
    text: Vec<u8>,
    /// Number of the line after the last complete line taken.
    next_line: u64,
    /// File offset just past the last byte taken.
    end: u64,
    stop: Stop,
    /// The last byte read was not a newline (a final line without one).
    unterminated: bool,
}

/// Streams the file, skipping to line `first`, taking whole lines until
/// `limit` lines or `cap` bytes. Memory stays at `cap` plus one buffer, even
/// for a gigabyte file with no newlines.
fn read_lines(file: &mut File, first: u64, limit: Option<u64>, cap: usize) -> io::Result<Excerpt> {
    let mut buf = [0u8; 8192];
    let mut line = 1u64;
    let mut pos = 0u64;
    let mut taken = 0u64;
    let mut text = Vec::new();
    let mut unterminated = false;
    let stop = 'read: loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break Stop::Eof,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let piece_len = newline.map_or(chunk.len(), |i| i + 1);
            if line >= first {
                let room = cap - text.len();
                if piece_len > room {
                    text.extend_from_slice(&chunk[..room]);
                    pos += room as u64;
                    break 'read Stop::Cap;
                }
                text.extend_from_slice(&chunk[..piece_len]);
            }
            pos += piece_len as u64;
            chunk = &chunk[piece_len..];
            unterminated = newline.is_none();
            if newline.is_some() {
                line += 1;
                if line > first {
                    taken += 1;
                    if Some(taken) == limit {
                        break 'read Stop::Limit;
                    }
                }
            }
        }
    };
    if stop == Stop::Cap {
        // Give back the partial last line so the excerpt ends on a line
        // boundary and `offset` can resume exactly there. A single line
        // longer than the cap is kept, cut at a character boundary.
        if let Some(i) = text.iter().rposition(|&b| b == b'\n') {
            pos -= (text.len() - (i + 1)) as u64;
            text.truncate(i + 1);
        } else if let Err(e) = std::str::from_utf8(&text) {
            if e.error_len().is_none() {
                pos -= (text.len() - e.valid_up_to()) as u64;
                text.truncate(e.valid_up_to());
            }
        }
    }
    Ok(Excerpt {
        text,
        next_line: line,
        end: pos,
        stop,
        unterminated,
    })
}

fn render(ex: Excerpt, raw: &str, first: u64, size: u64, cap: usize) -> Result<String, String> {
    let path = show(raw);
    if ex.stop == Stop::Eof && ex.text.is_empty() {
        if size == 0 {
            return Ok("[empty file]".into());
        }
        let lines = ex.next_line - 1 + u64::from(ex.unterminated);
        return Err(format!(
            "offset {first} is past the end of {path} ({lines} lines)"
        ));
    }
    if ex.text.contains(&0) {
        return Err(format!(
            "{path} looks like a binary file ({size} bytes); read_file only returns text"
        ));
    }
    let mut out = match String::from_utf8(ex.text) {
        Ok(s) => s,
        Err(e) => {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            format!("[not valid UTF-8; invalid bytes shown as \u{FFFD}]\n{lossy}")
        }
    };
    let rest = size.saturating_sub(ex.end);
    if rest == 0 || ex.stop == Stop::Eof {
        return Ok(out);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let last = ex.next_line.saturating_sub(1);
    let footer = match ex.stop {
        Stop::Cap if last < first => format!(
            "[line {first} is longer than {cap} bytes; only its start is shown. {rest} more bytes in the file]"
        ),
        Stop::Cap => format!(
            "[cut at {cap} bytes: lines {first}-{last} shown, {rest} more bytes not shown; continue with offset={}]",
            last + 1
        ),
        _ => format!(
            "[lines {first}-{last} shown, {rest} more bytes follow; continue with offset={}]",
            last + 1
        ),
    };
    out.push_str(&footer);
    Ok(out)
}
