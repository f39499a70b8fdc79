//! MCP tools as picoclaw tools: names the providers accept, the server's
//! JSON Schema passed through, results rendered to text and capped.

use std::collections::HashSet;
use std::sync::Arc;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::Value;

use crate::server::Server;

/// Providers accept `^[a-zA-Z0-9_-]{1,64}$` for function names.
const MAX_TOOL_NAME: usize = 64;
/// Descriptions are prompt bytes on every turn; long ones are cut.
const MAX_DESCRIPTION: usize = 1024;

/// One tool as the server listed it, with the name the model sees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteTool {
    pub exposed: String,
    pub mcp_name: String,
    pub description: String,
    pub schema: Value,
}

/// Turns a `tools/list` result into the tools offered: allow-list applied,
/// task-only tools dropped (we cannot run tasks), names made unique and
/// provider-safe. Returns the offered tools and the names left out.
pub(crate) fn offered(
    server: &str,
    listed: &[Value],
    enabled: Option<&[String]>,
) -> (Vec<RemoteTool>, Vec<String>) {
    let mut tools = Vec::new();
    let mut hidden = Vec::new();
    let mut taken = HashSet::new();
    for t in listed {
        let Some(name) = t.get("name").and_then(Value::as_str) else {
            continue;
        };
        let task_only =
            t.pointer("/execution/taskSupport").and_then(Value::as_str) == Some("required");
        let allowed = enabled.is_none_or(|list| list.iter().any(|n| n == name));
        if task_only || !allowed {
            hidden.push(name.to_string());
            continue;
        }
        let description = t
            .get("description")
            .or_else(|| t.get("title"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let schema = match t.get("inputSchema") {
            Some(s @ Value::Object(_)) => s.clone(),
            _ => serde_json::json!({"type": "object", "properties": {}}),
        };
        tools.push(RemoteTool {
            exposed: exposed_name(server, name, &mut taken),
            mcp_name: name.to_string(),
            description: cut(description, MAX_DESCRIPTION, "…"),
            schema,
        });
    }
    (tools, hidden)
}

/// `mcp_<server>_<tool>` with every character outside `[A-Za-z0-9_-]`
/// replaced by `_`; too long or clashing names get a hash suffix.
pub(crate) fn exposed_name(server: &str, tool: &str, taken: &mut HashSet<String>) -> String {
    let raw = format!("mcp_{server}_{tool}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = clean.clone();
    if name.len() > MAX_TOOL_NAME || taken.contains(&name) {
        let mut salt = 0u32;
        loop {
            let suffix = format!("_{:08x}", fnv1a(&raw, salt));
            name = format!(
                "{}{suffix}",
                &clean[..clean.len().min(MAX_TOOL_NAME - suffix.len())]
            );
            if !taken.contains(&name) {
                break;
            }
            salt += 1;
        }
    }
    taken.insert(name.clone());
    name
}

fn fnv1a(s: &str, salt: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5 ^ salt;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Cuts at a character boundary, appending `marker`.
fn cut(s: &str, max: usize, marker: &str) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &s[..end])
}

/// Decoded size of base64 text, without decoding it.
fn base64_len(b64: &str) -> usize {
    let b64 = b64.trim_end();
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

/// Renders a `tools/call` result as the text the model reads. Binary
/// content becomes a short note; `isError` makes an error output.
pub(crate) fn render(result: &Value, max: usize) -> ToolOutput {
    let mut parts: Vec<String> = Vec::new();
    let blocks = result.get("content").and_then(Value::as_array);
    for block in blocks.into_iter().flatten() {
        let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
        let size = |k: &str| base64_len(s(k));
        parts.push(match s("type") {
            "text" => s("text").to_string(),
            "image" => format!(
                "[image {}, {} bytes, not shown]",
                s("mimeType"),
                size("data")
            ),
            "audio" => format!(
                "[audio {}, {} bytes, not played]",
                s("mimeType"),
                size("data")
            ),
            "resource_link" => {
                let mut note = format!("[resource link] {} <{}>", s("name"), s("uri"));
                if !s("mimeType").is_empty() {
                    note.push_str(&format!(" ({})", s("mimeType")));
                }
                if !s("description").is_empty() {
                    note.push_str(&format!(": {}", s("description")));
                }
                note
            }
            "resource" => {
                let r = block.get("resource").cloned().unwrap_or(Value::Null);
                let rs = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                match r.get("text").and_then(Value::as_str) {
                    Some(text) => format!("[resource {}]\n{text}", rs("uri")),
                    None => format!(
                        "[resource {} {}, {} bytes of binary, not shown]",
                        rs("uri"),
                        rs("mimeType"),
                        base64_len(&rs("blob"))
                    ),
                }
            }
            other => format!("[{other} content, not shown]"),
        });
    }
    if parts.is_empty() {
        // Servers should mirror structured results as text; some do not.
        if let Some(sc) = result.get("structuredContent") {
            parts.push(sc.to_string());
        }
    }
    let mut text = parts.join("\n");
    let total = text.len();
    if total > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(
            "\n[truncated: showing the first {end} of {total} bytes]"
        ));
    }
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        ToolOutput::error(text)
    } else {
        ToolOutput::ok(text)
    }
}

/// A server's tool as a picoclaw [`Tool`].
pub(crate) struct McpTool {
    pub(crate) server: Arc<Server>,
    pub(crate) tool: RemoteTool,
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.tool.exposed.clone(),
            description: self.tool.description.clone(),
            parameters: self.tool.schema.clone(),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        if !args.is_object() {
            return ToolOutput::error("arguments must be a JSON object");
        }
        let mut timeout = self.server.opts.timeout;
        if !ctx.timeout.is_zero() {
            timeout = timeout.min(ctx.timeout);
        }
        match self.server.call_tool(
            &self.tool.mcp_name,
            args.clone(),
            timeout,
            &ctx.cancel,
            /*offered_only*/ true,
        ) {
            Ok(out) => out,
            Err(e) => ToolOutput::error(format!("{}: {e}", self.tool.exposed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_names_are_provider_safe_unique_and_at_most_64_characters() {
        let mut taken = HashSet::new();
        assert_eq!(
            exposed_name("fs", "read_file", &mut taken),
            "mcp_fs_read_file"
        );
        assert_eq!(
            exposed_name("fs", "read.file", &mut taken).len(),
            "mcp_fs_read_file".len() + 9
        );
        assert_eq!(
            exposed_name("fs", "get sum/x", &mut taken),
            "mcp_fs_get_sum_x"
        );
        let long = exposed_name("server", &"x".repeat(100), &mut taken);
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("mcp_server_xxx"));
        let other = exposed_name("server", &"x".repeat(101), &mut taken);
        assert_ne!(long, other);
        assert_eq!(other.len(), 64);
    }

    #[test]
    fn allow_list_and_task_only_tools_are_left_out() {
        let listed = vec![
            json!({"name": "a", "description": "A", "inputSchema": {"type": "object", "required": ["x"]}}),
            json!({"name": "b", "title": "Bee"}),
            json!({"name": "c", "execution": {"taskSupport": "required"}}),
            json!({"name": "d", "execution": {"taskSupport": "optional"}}),
        ];
        let (tools, hidden) = offered("s", &listed, None);
        let names: Vec<&str> = tools.iter().map(|t| t.exposed.as_str()).collect();
        assert_eq!(names, ["mcp_s_a", "mcp_s_b", "mcp_s_d"]);
        assert_eq!(hidden, ["c"]);
        assert_eq!(
            tools[0].schema,
            json!({"type": "object", "required": ["x"]})
        );
        assert_eq!(tools[1].description, "Bee");
        assert_eq!(tools[1].schema, json!({"type": "object", "properties": {}}));
        let only = ["b".to_string()];
        let (tools, hidden) = offered("s", &listed, Some(&only));
        assert_eq!(tools.len(), 1);
        assert_eq!(hidden, ["a", "c", "d"]);
    }

    #[test]
    fn results_render_text_notes_for_binary_and_links_and_keep_is_error() {
        let out = render(
            &json!({"content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "resource_link", "uri": "file:///a.txt", "name": "a.txt", "mimeType": "text/plain", "description": "first"},
                {"type": "resource", "resource": {"uri": "mem://x", "text": "inline"}},
                {"type": "resource", "resource": {"uri": "mem://y", "mimeType": "application/zip", "blob": "AAAAAAAA"}},
                {"type": "hologram"}
            ]}),
            10_000,
        );
        assert_eq!(
            out,
            ToolOutput::ok(
                "hello\n[image image/png, 3 bytes, not shown]\n[resource link] a.txt <file:///a.txt> (text/plain): first\n[resource mem://x]\ninline\n[resource mem://y application/zip, 6 bytes of binary, not shown]\n[hologram content, not shown]"
            )
        );
        let err = render(
            &json!({"content": [{"type": "text", "text": "boom"}], "isError": true}),
            100,
        );
        assert_eq!(err, ToolOutput::error("boom"));
        let structured = render(&json!({"content": [], "structuredContent": {"n": 1}}), 100);
        assert_eq!(structured.content, "{\"n\":1}");
    }

    #[test]
    fn large_results_are_cut_with_a_marker() {
        let out = render(
            &json!({"content": [{"type": "text", "text": "é".repeat(10)}]}),
            5,
        );
        assert_eq!(
            out.content,
            "éé\n[truncated: showing the first 4 of 20 bytes]"
        );
    }
}
