//! Request checks the real APIs make, where they are cheap to copy. Each
//! returns the error message the API would put in its 400 body.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::http::Request;

pub(super) fn validate_openai(body: &Value) -> Result<(), String> {
    require_model(body)?;
    let messages = non_empty_messages(body)?;
    if body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err("[] is too short - 'tools'".into());
    }
    let mut pending: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "tool" {
            let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
            if !pending.remove(id) {
                return Err(format!("Invalid parameter: messages[{i}] with role 'tool' must be a response to a preceeding message with 'tool_calls'."));
            }
            continue;
        }
        if !pending.is_empty() {
            return Err(format!("messages[{i}]: an assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'."));
        }
        match role {
            "user" => check_openai_content(i, m.get("content"))?,
            "system" | "developer" => {}
            "assistant" => {
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = call.get("id").and_then(Value::as_str);
                    let f = call.get("function");
                    let named = f
                        .and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .is_some();
                    let args = f
                        .and_then(|f| f.get("arguments"))
                        .is_some_and(Value::is_string);
                    match id {
                        Some(id)
                            if named && args && call.get("type") == Some(&json!("function")) =>
                        {
                            pending.insert(id.to_string());
                        }
                        _ => {
                            return Err(format!(
                                "messages[{i}].tool_calls: invalid tool call {call}"
                            ))
                        }
                    }
                }
            }
            other => return Err(format!("messages[{i}].role: invalid value '{other}'")),
        }
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err("an assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'.".into())
    }
}

pub(super) fn validate_anthropic(req: &Request, body: &Value) -> Result<(), String> {
    if req.header("anthropic-version").is_none() {
        return Err("anthropic-version: header is required".into());
    }
    require_model(body)?;
    if !body.get("max_tokens").is_some_and(Value::is_u64) {
        return Err("max_tokens: Field required".into());
    }
    let messages = non_empty_messages(body)?;
    let mut prev_role = "";
    let mut pending: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        if i == 0 && role != "user" {
            return Err("messages: first message must use the \"user\" role".into());
        }
        if role == prev_role {
            return Err(format!("messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"));
        }
        prev_role = role;
        let blocks = match m.get("content") {
            Some(Value::String(s)) if !s.is_empty() => Vec::new(),
            Some(Value::Array(b)) if !b.is_empty() => b.clone(),
            _ => {
                return Err(format!(
                    "messages.{i}: all messages must have non-empty content"
                ))
            }
        };
        let mut answered = HashSet::new();
        let mut uses = HashSet::new();
        for (j, b) in blocks.iter().enumerate() {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if b.get("text")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t.trim().is_empty())
                    {
                        return Err(format!(
                            "messages.{i}.content.{j}: text content blocks must be non-empty"
                        ));
                    }
                }
                Some("tool_use") if role == "assistant" => {
                    let id = b.get("id").and_then(Value::as_str).unwrap_or("");
                    if id.is_empty() || !b.get("input").is_some_and(Value::is_object) {
                        return Err(format!(
                            "messages.{i}.content.{j}.tool_use: id and object input are required"
                        ));
                    }
                    uses.insert(id.to_string());
                }
                Some("image") if role == "user" => {
                    let src = b.get("source");
                    let kind = src.and_then(|s| s.get("type")).and_then(Value::as_str);
                    let media = src
                        .and_then(|s| s.get("media_type"))
                        .and_then(Value::as_str);
                    let data = src.and_then(|s| s.get("data")).and_then(Value::as_str);
                    let ok = kind == Some("base64")
                        && media.is_some_and(|m| {
                            ["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&m)
                        })
                        && data.and_then(base64_len).is_some_and(|n| n > 0);
                    if !ok {
                        return Err(format!(
                            "messages.{i}.content.{j}.image.source: invalid base64 image source"
                        ));
                    }
                }
                Some("tool_result") if role == "user" => {
                    let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                    if !pending.contains(id) {
                        return Err(format!("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
                    }
                    answered.insert(id.to_string());
                }
                _ => {
                    return Err(format!(
                        "messages.{i}.content.{j}: unsupported content block {b}"
                    ))
                }
            }
        }
        if role == "user" && answered != pending {
            return Err(format!("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after"));
        }
        pending = uses;
    }
    Ok(())
}

/// OpenAI user content: a string, or parts of `text` and `image_url`.
fn check_openai_content(i: usize, content: Option<&Value>) -> Result<(), String> {
    let Some(Value::Array(parts)) = content else {
        return Ok(());
    };
    for (j, p) in parts.iter().enumerate() {
        match p.get("type").and_then(Value::as_str) {
            Some("text") if p.get("text").is_some_and(Value::is_string) => {}
            Some("image_url") => {
                let url = p
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let ok = url
                    .strip_prefix("data:image/")
                    .and_then(|rest| rest.split_once(";base64,"))
                    .and_then(|(_, data)| base64_len(data))
                    .is_some_and(|n| n > 0);
                if !ok {
                    return Err(format!("Invalid image_url in messages[{i}].content[{j}]: expected a data:image/...;base64 URL"));
                }
            }
            _ => {
                return Err(format!(
                    "Invalid content part in messages[{i}].content[{j}]: {p}"
                ))
            }
        }
    }
    Ok(())
}

/// The decoded length of standard padded base64, `None` when invalid.
pub(crate) fn base64_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = &b[..b.len() - pad];
    body.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .then(|| b.len() / 4 * 3 - pad)
}

/// Decodes standard padded base64 (tests look at the image bytes sent).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    base64_len(s)?;
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().take_while(|c| **c != b'=').count();
        let v = chunk.iter().fold(0u32, |acc, c| {
            (acc << 6) | if *c == b'=' { 0 } else { val(*c) }
        });
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..n.saturating_sub(1)]);
    }
    Some(out)
}

fn require_model(body: &Value) -> Result<(), String> {
    match body.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => Ok(()),
        _ => Err("model: Field required".into()),
    }
}

fn non_empty_messages(body: &Value) -> Result<&Vec<Value>, String> {
    match body.get("messages").and_then(Value::as_array) {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err("messages: at least one message is required".into()),
    }
}
