//! Anthropic Messages API (`POST {base}/v1/messages`), non-streaming.
//!
//! The neutral history maps onto content blocks: assistant tool calls become
//! `tool_use` blocks and tool results become `tool_result` blocks inside a
//! `user` message. Roles must alternate, so consecutive same-role messages
//! (several tool results, a tool result followed by the user's next text)
//! are merged into one message.

use std::borrow::Cow;

use picoclaw_core::{
    ChatMessage, Completion, CompletionRequest, FinishReason, Provider, ProviderError, Role,
    ToolCall, Usage,
};
use serde::{Deserialize, Serialize};

use crate::image::Base64;
use crate::status;
use crate::ProviderOptions;

const API_VERSION: &str = "2023-06-01";

/// A provider speaking the Anthropic Messages format.
pub struct Anthropic {
    opts: ProviderOptions,
    client: picoclaw_http::Client,
    url: String,
}

impl Anthropic {
    pub fn new(opts: ProviderOptions) -> Result<Anthropic, ProviderError> {
        let client = crate::client_for(&opts)?;
        let url = format!("{}/v1/messages", opts.base());
        Ok(Anthropic { opts, client, url })
    }
}

impl Provider for Anthropic {
    fn label(&self) -> String {
        self.opts.label()
    }

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
        let body = encode_request(&self.opts, req)?;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(2 + self.opts.headers.len());
        headers.push(("anthropic-version", API_VERSION));
        if let Some(key) = self.opts.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.push(("x-api-key", key));
        }
        for (k, v) in &self.opts.headers {
            headers.push((k, v));
        }
        let resp = status::post(&self.client, &self.url, &headers, &body)?;
        let mut completion = parse_response(&resp)?;
        completion.served_by = self.label();
        Ok(completion)
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    system: Cow<'a, str>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: serde_json::Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        content: &'a str,
    },
    Image {
        source: ImageSource<'a>,
    },
}

#[derive(Serialize)]
struct ImageSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'static str,
    data: Base64<'a>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a serde_json::Value,
}

/// Stands in for empty content, which the API rejects ("text content blocks
/// must be non-empty"), and opens a history whose first kept message is the
/// assistant's (the API wants a user turn first).
const PLACEHOLDER: &str = "(empty)";

fn encode_request(
    opts: &ProviderOptions,
    req: &CompletionRequest<'_>,
) -> Result<Vec<u8>, ProviderError> {
    let wire = WireRequest {
        model: &opts.model,
        max_tokens: opts.max_tokens,
        system: system_text(req),
        messages: wire_messages(req.messages, opts.vision),
        temperature: opts.temperature,
        tools: req
            .tools
            .iter()
            .map(|t| WireTool {
                name: &t.name,
                description: &t.description,
                input_schema: &t.parameters,
            })
            .collect(),
    };
    let pictures = crate::image::has_pictures(opts.vision, req.messages);
    crate::image::body(&wire, pictures).map_err(|e| ProviderError::Request {
        status: 0,
        message: format!("cannot encode request: {e}"),
    })
}

/// The API has no system role in `messages`; any stray system message in
/// the history joins the top-level prompt.
fn system_text<'a>(req: &CompletionRequest<'a>) -> Cow<'a, str> {
    let extra: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.is_empty())
        .map(|m| m.content.as_str())
        .collect();
    if extra.is_empty() {
        return Cow::Borrowed(req.system);
    }
    let mut parts = Vec::with_capacity(extra.len() + 1);
    if !req.system.is_empty() {
        parts.push(req.system);
    }
    parts.extend(extra);
    Cow::Owned(parts.join("\n\n"))
}

fn wire_messages(history: &[ChatMessage], vision: bool) -> Vec<WireMessage<'_>> {
    let mut out: Vec<WireMessage<'_>> = Vec::with_capacity(history.len());
    for m in history {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => {
                // Pictures first: Anthropic's guidance for image prompts.
                let mut blocks: Vec<Block<'_>> = Vec::new();
                if vision {
                    blocks.extend(m.images.iter().map(|i| Block::Image {
                        source: ImageSource {
                            kind: "base64",
                            media_type: i.media_type,
                            data: Base64(&i.data),
                        },
                    }));
                }
                blocks.extend(text_block(&m.content));
                ("user", blocks)
            }
            Role::Tool => (
                "user",
                vec![Block::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or(""),
                    content: &m.content,
                }],
            ),
            Role::Assistant => {
                let mut blocks: Vec<Block<'_>> = text_block(&m.content).into_iter().collect();
                blocks.extend(m.tool_calls.iter().map(tool_use_block));
                ("assistant", blocks)
            }
        };
        match out.last_mut() {
            Some(prev) if prev.role == role => prev.content.extend(blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    if out.first().is_some_and(|m| m.role == "assistant") {
        out.insert(
            0,
            WireMessage {
                role: "user",
                content: vec![Block::Text { text: PLACEHOLDER }],
            },
        );
    }
    for m in &mut out {
        if m.content.is_empty() {
            m.content.push(Block::Text { text: PLACEHOLDER });
        }
    }
    out
}

fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.trim().is_empty()).then_some(Block::Text { text })
}

fn tool_use_block(c: &ToolCall) -> Block<'_> {
    // `input` must be an object. A model that produced broken arguments is
    // told so by the tool result; the history must still be sendable.
    let input = match serde_json::from_str::<serde_json::Value>(&c.arguments) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    };
    Block::ToolUse {
        id: &c.id,
        name: &c.name,
        input,
    }
}

#[derive(Deserialize)]
struct WireResponse {
    content: Vec<ResponseBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    /// `thinking`, `redacted_thinking`, server tool blocks...: not used.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

pub(crate) fn parse_response(body: &[u8]) -> Result<Completion, ProviderError> {
    let wire: WireResponse = status::decode(body)?;
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    for block in wire.content {
        match block {
            ResponseBlock::Text { text } => content.push_str(&text),
            ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: match input {
                    serde_json::Value::Null => String::from("{}"),
                    other => other.to_string(),
                },
            }),
            ResponseBlock::Other => {}
        }
    }
    let finish = match wire.stop_reason.as_deref() {
        Some("end_turn") | Some("stop_sequence") | None => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::Refusal,
        Some(_) => FinishReason::Other,
    };
    let usage = wire.usage.map_or(Usage::default(), |u| Usage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
    });
    Ok(Completion {
        message: ChatMessage {
            role: Role::Assistant,
            content,
            tool_calls,
            tool_call_id: None,
            images: Vec::new(),
        },
        usage,
        finish,
        served_by: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assistant_calls(text: &str, calls: &[(&str, &str)]) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            content: text.into(),
            tool_calls: calls
                .iter()
                .map(|(id, args)| ToolCall {
                    id: (*id).into(),
                    name: "t".into(),
                    arguments: (*args).into(),
                })
                .collect(),
            tool_call_id: None,
            images: Vec::new(),
        }
    }

    #[test]
    fn tool_results_and_following_text_merge_into_one_user_turn() {
        let history = vec![
            ChatMessage::user("go"),
            assistant_calls("", &[("a", r#"{"x":1}"#), ("b", "not json")]),
            ChatMessage::tool_result("a", "one"),
            ChatMessage::tool_result("b", ""),
            ChatMessage::user("and then?"),
        ];
        let v = serde_json::to_value(wire_messages(&history, false)).unwrap();
        assert_eq!(
            v,
            json!([
                {"role": "user", "content": [{"type": "text", "text": "go"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "a", "name": "t", "input": {"x": 1}},
                    {"type": "tool_use", "id": "b", "name": "t", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "b"},
                    {"type": "text", "text": "and then?"}
                ]}
            ])
        );
    }

    #[test]
    fn pictures_become_base64_image_blocks_before_the_text_for_vision_models() {
        let mut user = ChatMessage::user("what is it?");
        user.images.push(picoclaw_core::Image {
            media_type: "image/jpeg",
            data: std::sync::Arc::from(&b"\xff\xd8\xff"[..]),
        });
        let history = vec![user];
        assert_eq!(
            serde_json::to_value(wire_messages(&history, true)).unwrap(),
            json!([{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                {"type": "text", "text": "what is it?"}
            ]}])
        );
        assert_eq!(
            serde_json::to_value(wire_messages(&history, false)).unwrap(),
            json!([{"role": "user", "content": [{"type": "text", "text": "what is it?"}]}])
        );
    }

    #[test]
    fn history_starting_with_the_assistant_gets_a_user_opening() {
        let history = vec![ChatMessage::assistant("hello"), ChatMessage::user("")];
        let v = serde_json::to_value(wire_messages(&history, false)).unwrap();
        assert_eq!(
            v,
            json!([
                {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER}]},
                {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
                {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER}]}
            ])
        );
    }

    #[test]
    fn content_blocks_parse_into_text_and_calls() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[
            {"type":"thinking","thinking":"hmm","signature":"x"},
            {"type":"text","text":"Let me look. "},
            {"type":"tool_use","id":"toolu_1","name":"ls","input":{"path":"."}}],
            "stop_reason":"tool_use","usage":{"input_tokens":12,"output_tokens":7}}"#;
        let c = parse_response(body).unwrap();
        assert_eq!(c.message.content, "Let me look. ");
        assert_eq!(
            c.message.tool_calls,
            vec![ToolCall {
                id: "toolu_1".into(),
                name: "ls".into(),
                arguments: r#"{"path":"."}"#.into()
            }]
        );
        assert_eq!(c.finish, FinishReason::ToolCalls);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 7
            }
        );
    }

    #[test]
    fn error_shaped_or_broken_bodies_are_decode_errors() {
        for body in [
            &br#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#[..],
            b"",
            b"{\"content\":[{\"type\":\"text\"",
            b"{\"content\":[{\"type\":\"tool_use\"}]}",
        ] {
            assert!(matches!(
                parse_response(body),
                Err(ProviderError::Decode(_))
            ));
        }
    }
}
