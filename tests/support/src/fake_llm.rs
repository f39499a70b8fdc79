//! A scripted fake LLM server speaking both the OpenAI Chat Completions
//! format (`POST /v1/chat/completions`, also `POST /chat/completions` for
//! base URLs without `/v1`) and the Anthropic Messages format
//! (`POST /v1/messages`), on 127.0.0.1.
//!
//! Requests are checked the way the real APIs check them, where that is
//! cheap: the body must be JSON with a `model` and non-empty `messages`;
//! OpenAI `tools` must not be an empty list and every assistant `tool_calls`
//! entry must be answered by a `tool` message right after it; Anthropic
//! needs the `anthropic-version` header and `max_tokens`, roles must
//! alternate starting with `user`, text blocks must be non-empty, and every
//! `tool_use` must be answered by a `tool_result` in the next message (and
//! no `tool_result` without its `tool_use`). A fake started with a key
//! answers 401 unless `Authorization: Bearer KEY` / `x-api-key: KEY` match.
//! Rejections use the documented error bodies and do not consume a step.
//!
//! `GET /v1/models` (and `/models`) lists one model in the OpenAI shape,
//! or the Anthropic one when the request has Anthropic's headers.
//!
//! Answers come from a FIFO script of [`Step`]s. When the script is empty a
//! deterministic responder answers, looking at the last message:
//! - a tool result (OpenAI `tool` message, Anthropic `tool_result` block)
//!   → text `done: ` + the first 40 characters of that result;
//! - user text with `[[call NAME ARGS]]` markers → one tool call per marker,
//!   in order, with ARGS as the arguments (a JSON value, default `{}`; text
//!   that is not JSON up to `]]` is passed through raw, like a model sending
//!   broken arguments);
//! - any other user text → `echo: ` + that text.
//!
//! So `"list it [[call list_dir {\"path\":\".\"}]]"` yields one tool call,
//! and once its result comes back, `done: ...`.
//!
//! Usage is deterministic: input tokens = 10 × the number of `messages`,
//! output tokens = words of the reply text + 10 per tool call.
//!
//! It also answers OpenAI's `POST /v1/audio/transcriptions` (a
//! `multipart/form-data` upload with `model` and `file`): the "speech" is
//! the file's bytes read as UTF-8, so a test's voice note says what it
//! contains. Every transcription is recorded ([`FakeLlm::transcriptions`]).
//!
//! OpenAI user content given as parts is checked too: `text` parts need a
//! `text`, `image_url` parts a `data:image/...;base64,` URL whose base64
//! decodes; Anthropic `image` blocks need a base64 `source` with a
//! `media_type` and valid data.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{Reply, Request, Scheme, Server};

mod validate;

pub use validate::base64_decode;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// A plain text answer (`finish_reason: stop` / `stop_reason: end_turn`).
    Text(String),
    /// Tool calls as `(name, arguments JSON text)`.
    ToolCalls(Vec<(String, String)>),
    Fault(Fault),
}

impl Step {
    pub fn text(s: impl Into<String>) -> Step {
        Step::Text(s.into())
    }

    pub fn tool_call(name: &str, args: &str) -> Step {
        Step::ToolCalls(vec![(name.to_string(), args.to_string())])
    }

    /// An error status with the format's documented body.
    pub fn status(code: u16) -> Step {
        Step::Fault(Fault::Status {
            code,
            body: None,
            retry_after: None,
        })
    }
}

/// A misbehaviour to inject.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An HTTP error. `body: None` sends the format's documented error body
    /// for the status; `retry_after` adds a `retry-after` header (seconds).
    Status {
        code: u16,
        body: Option<Value>,
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Hangup,
    /// 200 with an HTML page, as a captive portal or a broken proxy sends.
    NonJson,
    /// 200 with a `content-length` longer than the body, then close.
    Truncated,
    /// Wait, then answer with the inner step (client timeouts).
    Delay(Duration, Box<Step>),
    /// OpenAI: `choices: []`. Anthropic: a message without `content`.
    EmptyChoices,
    /// OpenAI: `content: null` with a `refusal`. Anthropic: `stop_reason:
    /// refusal`.
    Refusal,
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// The refusal sentence both formats use.
pub const REFUSAL_TEXT: &str = "I'm sorry, but I can't help with that.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenAi,
    Anthropic,
}

#[derive(Default)]
struct State {
    script: VecDeque<Step>,
    requests: Vec<RecordedRequest>,
    answered: u64,
    transcriptions: Vec<Transcription>,
}

/// One audio upload to `/audio/transcriptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcription {
    pub model: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: usize,
    /// The `content-length` the request announced.
    pub content_length: Option<String>,
}

struct Shared {
    key: Option<String>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running fake; stops when dropped.
pub struct FakeLlm {
    server: Server,
    shared: Arc<Shared>,
}

impl FakeLlm {
    /// A fake that accepts any (or no) API key.
    pub fn start() -> FakeLlm {
        Self::start_inner(None)
    }

    /// A fake that answers 401 unless the request carries `key`.
    pub fn start_with_key(key: &str) -> FakeLlm {
        Self::start_inner(Some(key.to_string()))
    }

    /// Like [`FakeLlm::start_with_key`] (`None`: any key), served over
    /// HTTPS with `tls` (see [`crate::tls::TestCa`]).
    pub fn start_tls(key: Option<&str>, tls: Arc<rustls::ServerConfig>) -> FakeLlm {
        Self::start_on(Scheme::Https(tls), key.map(str::to_string))
    }

    fn start_inner(key: Option<String>) -> FakeLlm {
        Self::start_on(Scheme::Http, key)
    }

    fn start_on(scheme: Scheme, key: Option<String>) -> FakeLlm {
        let shared = Arc::new(Shared {
            key,
            state: Mutex::new(State::default()),
        });
        let handler_state = shared.clone();
        let server = Server::start_with(scheme, move |req| handle(&handler_state, req));
        FakeLlm { server, shared }
    }

    /// The HTTP(S) server underneath, for connection counts.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `http://127.0.0.1:PORT/v1`, an OpenAI-style `base_url`.
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// `http://127.0.0.1:PORT`, an Anthropic-style `base_url`.
    pub fn anthropic_base(&self) -> String {
        self.server.url()
    }

    /// Appends a step to the script.
    pub fn push(&self, step: Step) -> &FakeLlm {
        self.shared.lock().script.push_back(step);
        self
    }

    /// Steps not yet used.
    pub fn pending(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Every request received, rejected ones included, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Every transcription answered, in order.
    pub fn transcriptions(&self) -> Vec<Transcription> {
        self.shared.lock().transcriptions.clone()
    }
}

/// `POST /v1/audio/transcriptions`.
fn transcribe(shared: &Shared, req: &Request) -> Reply {
    if let Some(reply) = check_auth(Format::OpenAi, shared.key.as_deref(), req) {
        return reply;
    }
    let ctype = req.header("content-type").unwrap_or("");
    let parts = match crate::multipart::parse(ctype, &req.body) {
        Ok(p) => p,
        Err(e) => {
            return error_reply(
                Format::OpenAi,
                400,
                &format!("Could not parse multipart form: {e}"),
            )
        }
    };
    let field = |n: &str| parts.iter().find(|p| p.name == n);
    let Some(model) = field("model").map(|p| p.text()).filter(|m| !m.is_empty()) else {
        return error_reply(Format::OpenAi, 400, "you must provide a model parameter");
    };
    let Some(file) = field("file").filter(|p| p.filename.is_some()) else {
        return error_reply(
            Format::OpenAi,
            400,
            "1 validation error for Request\nbody -> file\n  field required",
        );
    };
    let text = match std::str::from_utf8(&file.body) {
        Ok(t) => t.trim().to_string(),
        Err(_) => format!("({} bytes of audio)", file.body.len()),
    };
    shared.lock().transcriptions.push(Transcription {
        model,
        filename: file.filename.clone().unwrap_or_default(),
        content_type: file.content_type.clone(),
        bytes: file.body.len(),
        content_length: req.header("content-length").map(str::to_string),
    });
    Reply::json(200, &json!({ "text": text }))
}

fn handle(shared: &Shared, req: &Request) -> Reply {
    // Kept apart from the chat requests: see `FakeLlm::transcriptions`.
    if matches!(
        req.path.as_str(),
        "/v1/audio/transcriptions" | "/audio/transcriptions"
    ) {
        return transcribe(shared, req);
    }
    let parsed = req.json();
    shared.lock().requests.push(RecordedRequest {
        path: req.path.clone(),
        headers: req.headers.clone(),
        body: parsed.clone().unwrap_or(Value::Null),
    });
    if matches!(req.path.as_str(), "/v1/models" | "/models") {
        return models(shared, req);
    }
    let format = match req.path.as_str() {
        "/v1/chat/completions" | "/chat/completions" => Format::OpenAi,
        "/v1/messages" => Format::Anthropic,
        _ => {
            let msg = format!("Unknown request URL: {} {}", req.method, req.path);
            return error_reply(Format::OpenAi, 404, &msg);
        }
    };
    if req.method != "POST" {
        return error_reply(format, 405, "Method not allowed");
    }
    if let Some(reply) = check_auth(format, shared.key.as_deref(), req) {
        return reply;
    }
    let Some(body) = parsed else {
        return error_reply(
            format,
            400,
            "We could not parse the JSON body of your request.",
        );
    };
    let checked = match format {
        Format::OpenAi => validate::validate_openai(&body),
        Format::Anthropic => validate::validate_anthropic(req, &body),
    };
    if let Err(msg) = checked {
        return error_reply(format, 400, &msg);
    }
    let (step, n) = {
        let mut st = shared.lock();
        st.answered += 1;
        (st.script.pop_front(), st.answered)
    };
    let step = step.unwrap_or_else(|| default_step(format, &body));
    render(format, &step, &body, n)
}

/// `GET /v1/models`: OpenAI's list (`{"object":"list","data":[…]}`), or
/// Anthropic's (`{"data":[…],"has_more":…}`) when the request carries
/// Anthropic's headers. Both check the key like completions do.
fn models(shared: &Shared, req: &Request) -> Reply {
    let format = if req.header("anthropic-version").is_some() || req.header("x-api-key").is_some() {
        Format::Anthropic
    } else {
        Format::OpenAi
    };
    if req.method != "GET" {
        return error_reply(format, 405, "Method not allowed");
    }
    if let Some(reply) = check_auth(format, shared.key.as_deref(), req) {
        return reply;
    }
    Reply::json(
        200,
        &match format {
            Format::OpenAi => json!({"object": "list", "data": [
                {"id": "test-model", "object": "model", "created": 0, "owned_by": "fake"}]}),
            Format::Anthropic => json!({"data": [{"type": "model", "id": "claude-test",
                "display_name": "Claude Test", "created_at": "2025-01-01T00:00:00Z"}],
                "has_more": false, "first_id": "claude-test", "last_id": "claude-test"}),
        },
    )
}

fn check_auth(format: Format, key: Option<&str>, req: &Request) -> Option<Reply> {
    let key = key?;
    let ok = match format {
        Format::OpenAi => req.header("authorization") == Some(&format!("Bearer {key}")),
        Format::Anthropic => req.header("x-api-key") == Some(key),
    };
    if ok {
        return None;
    }
    Some(match format {
        Format::OpenAi => Reply::json(
            401,
            &json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                "param": null, "code": "invalid_api_key"}}),
        ),
        Format::Anthropic => error_reply(format, 401, "invalid x-api-key"),
    })
}

fn error_type(code: u16) -> &'static str {
    match code {
        400 | 404 | 405 | 413 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn error_body(format: Format, code: u16, message: &str) -> Value {
    let kind = match (format, code) {
        (Format::Anthropic, 404) => "not_found_error",
        (Format::OpenAi, 500..=599) => "server_error",
        _ => error_type(code),
    };
    match format {
        Format::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Format::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

fn error_reply(format: Format, code: u16, message: &str) -> Reply {
    Reply::json(code, &error_body(format, code, message))
}

/// The responder used when the script is empty (see the module doc).
fn default_step(format: Format, body: &Value) -> Step {
    let messages = body.get("messages").and_then(Value::as_array);
    let Some(last) = messages.and_then(|m| m.last()) else {
        return Step::text("echo: ");
    };
    let tool_result = match format {
        Format::OpenAi => (last.get("role") == Some(&json!("tool")))
            .then(|| text_of(last.get("content").unwrap_or(&Value::Null))),
        Format::Anthropic => last
            .get("content")
            .and_then(Value::as_array)
            .and_then(|blocks| {
                blocks
                    .iter()
                    .rev()
                    .find(|b| b.get("type") == Some(&json!("tool_result")))
            })
            .map(|b| text_of(b.get("content").unwrap_or(&Value::Null))),
    };
    if let Some(result) = tool_result {
        let head: String = result.chars().take(40).collect();
        return Step::Text(format!("done: {head}"));
    }
    let user = messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role") == Some(&json!("user")))
        .map(|m| text_of(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let calls = call_markers(&user);
    if calls.is_empty() {
        Step::Text(format!("echo: {user}"))
    } else {
        Step::ToolCalls(calls)
    }
}

/// Text of a string content or of the `text` blocks in a block list.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Parses `[[call NAME ARGS]]` markers.
fn call_markers(text: &str) -> Vec<(String, String)> {
    const OPEN: &str = "[[call ";
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = rest[start + OPEN.len()..].trim_start();
        let name_end = after
            .find(|c: char| c.is_whitespace() || c == ']')
            .unwrap_or(after.len());
        let name = &after[..name_end];
        let tail = after[name_end..].trim_start();
        // A JSON value may itself contain "]]", so parse it first.
        let mut stream = serde_json::Deserializer::from_str(tail).into_iter::<Value>();
        let (args, used) = match stream.next() {
            Some(Ok(v)) if tail[stream.byte_offset()..].trim_start().starts_with("]]") => {
                (v.to_string(), stream.byte_offset())
            }
            _ => {
                let end = tail.find("]]").unwrap_or(tail.len());
                let raw = tail[..end].trim();
                (
                    if raw.is_empty() {
                        "{}".to_string()
                    } else {
                        raw.to_string()
                    },
                    end,
                )
            }
        };
        let remaining = &tail[used..];
        rest = remaining.find("]]").map_or("", |e| &remaining[e + 2..]);
        if !name.is_empty() {
            calls.push((name.to_string(), args));
        }
    }
    calls
}

fn usage_of(body: &Value, text: &str, calls: usize) -> (u64, u64) {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (
        10 * messages as u64,
        (text.split_whitespace().count() + 10 * calls) as u64,
    )
}

fn render(format: Format, step: &Step, body: &Value, n: u64) -> Reply {
    let model = body.get("model").cloned().unwrap_or(Value::Null);
    match step {
        Step::Text(text) => Reply::json(
            200,
            &answer(format, &model, n, text, &[], usage_of(body, text, 0)),
        ),
        Step::ToolCalls(calls) => Reply::json(
            200,
            &answer(
                format,
                &model,
                n,
                "",
                calls,
                usage_of(body, "", calls.len()),
            ),
        ),
        Step::Fault(fault) => match fault {
            Fault::Status {
                code,
                body: custom,
                retry_after,
            } => {
                let value = custom.clone().unwrap_or_else(|| {
                    error_body(format, *code, &format!("fake fault: HTTP {code}"))
                });
                let reply = Reply::json(*code, &value);
                match retry_after {
                    Some(secs) => reply.with_header("retry-after", &secs.to_string()),
                    None => reply,
                }
            }
            Fault::Hangup => Reply::Hangup,
            Fault::NonJson => Reply::raw(
                200,
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            ),
            Fault::Truncated => {
                let full =
                    answer(format, &model, n, "this answer is cut short", &[], (1, 1)).to_string();
                Reply::Truncated {
                    status: 200,
                    body: full.as_bytes()[..full.len() / 2].to_vec(),
                }
            }
            Fault::Delay(d, inner) => Reply::Delayed(*d, Box::new(render(format, inner, body, n))),
            Fault::EmptyChoices => {
                let mut v = answer(format, &model, n, "", &[], usage_of(body, "", 0));
                match format {
                    Format::OpenAi => v["choices"] = json!([]),
                    Format::Anthropic => {
                        if let Some(obj) = v.as_object_mut() {
                            obj.remove("content");
                        }
                    }
                }
                Reply::json(200, &v)
            }
            Fault::Refusal => {
                let mut v = answer(
                    format,
                    &model,
                    n,
                    REFUSAL_TEXT,
                    &[],
                    usage_of(body, REFUSAL_TEXT, 0),
                );
                match format {
                    Format::OpenAi => {
                        v["choices"][0]["message"]["content"] = Value::Null;
                        v["choices"][0]["message"]["refusal"] = json!(REFUSAL_TEXT);
                    }
                    Format::Anthropic => v["stop_reason"] = json!("refusal"),
                }
                Reply::json(200, &v)
            }
        },
    }
}

/// A successful answer in the documented shape.
fn answer(
    format: Format,
    model: &Value,
    n: u64,
    text: &str,
    calls: &[(String, String)],
    usage: (u64, u64),
) -> Value {
    let (input, output) = usage;
    match format {
        Format::OpenAi => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({"id": format!("call_fake_{n}_{i}"), "type": "function",
                        "function": {"name": name, "arguments": args}})
                })
                .collect();
            let mut message = json!({"role": "assistant", "content": text, "refusal": null});
            if !tool_calls.is_empty() {
                message["content"] = Value::Null;
                message["tool_calls"] = Value::Array(tool_calls);
            }
            json!({
                "id": format!("chatcmpl-fake-{n}"),
                "object": "chat.completion",
                "created": 1_700_000_000 + n,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null,
                    "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
            })
        }
        Format::Anthropic => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for (i, (name, args)) in calls.iter().enumerate() {
                let input = serde_json::from_str::<Value>(args)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                content.push(
                    json!({"type": "tool_use", "id": format!("toolu_fake_{n}_{i}"),
                    "name": name, "input": input}),
                );
            }
            json!({
                "id": format!("msg_fake_{n}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" },
                "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output},
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_markers_parse_json_raw_and_missing_arguments() {
        let text =
            r#"do [[call read_file {"path":"a]]b"}]] then [[call ls]] and [[call bad not json]]"#;
        assert_eq!(
            call_markers(text),
            vec![
                ("read_file".to_string(), r#"{"path":"a]]b"}"#.to_string()),
                ("ls".to_string(), "{}".to_string()),
                ("bad".to_string(), "not json".to_string()),
            ]
        );
        assert!(call_markers("no markers [[here]]").is_empty());
    }
}
