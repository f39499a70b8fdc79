//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`).
//!
//! The same code serves OpenAI and the many servers that copy its API, so
//! the parser is lenient where they are known to differ: `content` may be
//! null or a list of parts, tool-call `arguments` may be a JSON object
//! instead of a string (Ollama, older llama.cpp), `usage` and ids may be
//! missing.

use picoclaw_core::{
    ChatMessage, Completion, CompletionRequest, FinishReason, Provider, ProviderError, Role,
    ToolCall, Usage,
};
use serde::{Deserialize, Serialize};

use crate::image::DataUrl;
use crate::status;
use crate::ProviderOptions;

/// A provider speaking the OpenAI Chat Completions format.
pub struct OpenAi {
    opts: ProviderOptions,
    client: picoclaw_http::Client,
    url: String,
    auth: Option<String>,
}

impl OpenAi {
    pub fn new(opts: ProviderOptions) -> Result<OpenAi, ProviderError> {
        let client = crate::client_for(&opts)?;
        let url = format!("{}/chat/completions", opts.base());
        let auth = opts
            .api_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| format!("Bearer {k}"));
        Ok(OpenAi {
            opts,
            client,
            url,
            auth,
        })
    }

    /// OpenAI's own API wants `max_completion_tokens` (reasoning models
    /// reject `max_tokens`); compatible servers mostly only know the old name.
    fn uses_max_completion_tokens(&self) -> bool {
        self.opts.base().starts_with("https://api.openai.com")
    }
}

impl Provider for OpenAi {
    fn label(&self) -> String {
        self.opts.label()
    }

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
        let body = encode_request(&self.opts, req, self.uses_max_completion_tokens())?;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(1 + self.opts.headers.len());
        if let Some(auth) = &self.auth {
            headers.push(("authorization", auth));
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
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    // Omitted when empty: several servers reject `"tools": []`, and at the
    // tool-iteration cap the agent wants an answer without tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` for an assistant message that only calls tools.
    content: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

/// A string, or for a user message with pictures (vision models) a list
/// of text and `image_url` parts.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<Part<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: DataUrl<'a>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolFunction<'a>,
}

#[derive(Serialize)]
struct WireToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

fn encode_request(
    opts: &ProviderOptions,
    req: &CompletionRequest<'_>,
    max_completion_tokens: bool,
) -> Result<Vec<u8>, ProviderError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(WireMessage {
            role: "system",
            content: Some(Content::Text(req.system)),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
    messages.extend(req.messages.iter().map(|m| wire_message(m, opts.vision)));
    let wire = WireRequest {
        model: &opts.model,
        messages,
        max_tokens: (!max_completion_tokens).then_some(opts.max_tokens),
        max_completion_tokens: max_completion_tokens.then_some(opts.max_tokens),
        temperature: opts.temperature,
        tools: req
            .tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: WireToolFunction {
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
                },
            })
            .collect(),
    };
    // Serialising borrowed strings and a Value cannot fail, but a NaN
    // temperature would; report it rather than panic.
    let pictures = crate::image::has_pictures(opts.vision, req.messages);
    crate::image::body(&wire, pictures).map_err(|e| ProviderError::Request {
        status: 0,
        message: format!("cannot encode request: {e}"),
    })
}

fn wire_message(m: &ChatMessage, vision: bool) -> WireMessage<'_> {
    let content = match m.role {
        Role::Assistant if m.content.is_empty() && !m.tool_calls.is_empty() => None,
        Role::User if vision && !m.images.is_empty() => {
            let mut parts = Vec::with_capacity(1 + m.images.len());
            if !m.content.is_empty() {
                parts.push(Part::Text { text: &m.content });
            }
            parts.extend(m.images.iter().map(|i| Part::ImageUrl {
                image_url: ImageUrl { url: DataUrl(i) },
            }));
            Some(Content::Parts(parts))
        }
        _ => Some(Content::Text(&m.content)),
    };
    WireMessage {
        role: m.role.as_str(),
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| WireCall {
                id: &c.id,
                kind: "function",
                function: WireFunction {
                    name: &c.name,
                    arguments: &c.arguments,
                },
            })
            .collect(),
        tool_call_id: match m.role {
            Role::Tool => Some(m.tool_call_id.as_deref().unwrap_or("")),
            _ => None,
        },
    }
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    /// A string, `null`, or (some servers) a list of `{type, text}` parts.
    #[serde(default)]
    content: serde_json::Value,
    #[serde(default)]
    tool_calls: Option<Vec<ResponseCall>>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ResponseCall {
    #[serde(default)]
    id: Option<String>,
    function: ResponseFunction,
}

#[derive(Deserialize)]
struct ResponseFunction {
    name: String,
    /// Normally a string holding JSON; Ollama sends the object itself.
    #[serde(default)]
    arguments: serde_json::Value,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

pub(crate) fn parse_response(body: &[u8]) -> Result<Completion, ProviderError> {
    let wire: WireResponse = status::decode(body)?;
    let Some(choice) = wire.choices.into_iter().next() else {
        return Err(ProviderError::Decode(String::from(
            "response has no choices",
        )));
    };
    let msg = choice.message;
    let mut content = text_of(&msg.content);
    let tool_calls: Vec<ToolCall> = msg
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            // Some local servers omit ids; the tool result must still echo one.
            id: c
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{i}")),
            name: c.function.name,
            arguments: match c.function.arguments {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::from("{}"),
                other => other.to_string(),
            },
        })
        .collect();
    let mut finish = match choice.finish_reason.as_deref() {
        Some("stop") | None => FinishReason::Stop,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::Refusal,
        Some(_) => FinishReason::Other,
    };
    // Ollama and some proxies say "stop" even when they return tool calls;
    // the calls are what matters.
    if !tool_calls.is_empty() && finish == FinishReason::Stop {
        finish = FinishReason::ToolCalls;
    }
    if let Some(refusal) = msg.refusal.filter(|r| !r.is_empty()) {
        if content.is_empty() {
            content = refusal;
        }
        finish = FinishReason::Refusal;
    }
    let usage = wire.usage.map_or(Usage::default(), |u| Usage {
        input_tokens: u.prompt_tokens.unwrap_or(0),
        output_tokens: u.completion_tokens.unwrap_or(0),
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

fn text_of(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoclaw_core::ToolSpec;

    fn opts() -> ProviderOptions {
        ProviderOptions::new(crate::ProviderKind::OpenAi, "m1")
    }

    #[test]
    fn history_is_encoded_in_openai_shapes() {
        let call = ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a"}"#.into(),
        };
        let history = vec![
            ChatMessage::user("hi"),
            ChatMessage {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![call],
                tool_call_id: None,
                images: Vec::new(),
            },
            ChatMessage::tool_result("c1", "file text"),
        ];
        let tools = vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads".into(),
            parameters: serde_json::json!({"type":"object"}),
        }];
        let req = CompletionRequest {
            system: "be brief",
            messages: &history,
            tools: &tools,
        };
        let body = encode_request(&opts(), &req, false).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "model": "m1",
                "max_tokens": 1024,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}
                    ]},
                    {"role": "tool", "content": "file text", "tool_call_id": "c1"}
                ],
                "tools": [{"type": "function", "function": {"name": "read_file", "description": "Reads", "parameters": {"type": "object"}}}]
            })
        );
    }

    #[test]
    fn pictures_become_image_url_parts_only_for_vision_models() {
        let mut user = ChatMessage::user("[photo saved at inbox/p.jpg] what is it?");
        user.images.push(picoclaw_core::Image {
            media_type: "image/png",
            data: std::sync::Arc::from(&b"\x89PNG"[..]),
        });
        let history = vec![user];
        let req = CompletionRequest {
            system: "",
            messages: &history,
            tools: &[],
        };
        let mut vision = opts();
        vision.vision = true;
        let v: serde_json::Value =
            serde_json::from_slice(&encode_request(&vision, &req, false).unwrap()).unwrap();
        assert_eq!(
            v["messages"],
            serde_json::json!([{"role": "user", "content": [
                {"type": "text", "text": "[photo saved at inbox/p.jpg] what is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
            ]}])
        );
        let v: serde_json::Value =
            serde_json::from_slice(&encode_request(&opts(), &req, false).unwrap()).unwrap();
        assert_eq!(
            v["messages"],
            serde_json::json!([{"role": "user", "content": "[photo saved at inbox/p.jpg] what is it?"}])
        );
    }

    #[test]
    fn no_tools_means_no_tools_field() {
        let history = vec![ChatMessage::user("hi")];
        let req = CompletionRequest {
            system: "",
            messages: &history,
            tools: &[],
        };
        let body = encode_request(&opts(), &req, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"model": "m1", "max_completion_tokens": 1024,
                "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn lenient_shapes_from_compatible_servers_parse() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"function":{"name":"ls","arguments":{"path":"."}}}]},"finish_reason":"stop"}]}"#;
        let c = parse_response(body).unwrap();
        assert_eq!(
            c.message.tool_calls,
            vec![ToolCall {
                id: "call_0".into(),
                name: "ls".into(),
                arguments: r#"{"path":"."}"#.into()
            }]
        );
        assert_eq!(c.finish, FinishReason::ToolCalls);
        assert_eq!(c.usage, Usage::default());

        let refusal = br#"{"choices":[{"message":{"content":null,"refusal":"I can't."},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":5}}"#;
        let c = parse_response(refusal).unwrap();
        assert_eq!(
            (c.message.content.as_str(), c.finish),
            ("I can't.", FinishReason::Refusal)
        );
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 5,
                output_tokens: 0
            }
        );
    }

    #[test]
    fn bodies_without_a_usable_choice_are_decode_errors() {
        for body in [
            &b"{\"choices\":[]}"[..],
            b"{}",
            b"[1,2]",
            b"<html>",
            b"{\"choices\":[{\"mess",
        ] {
            assert!(
                matches!(parse_response(body), Err(ProviderError::Decode(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
