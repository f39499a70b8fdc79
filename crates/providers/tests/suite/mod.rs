mod anthropic;
mod chain;
mod fake;
mod openai;

use std::time::Duration;

use picoclaw_core::{ChatMessage, CompletionRequest, Role, ToolCall, ToolSpec};
use picoclaw_providers::{ProviderKind, ProviderOptions, RetryPolicy};

/// Options pointing at a fake, with a short timeout so a broken test fails
/// instead of hanging.
pub fn opts(name: &str, kind: ProviderKind, base: String, key: Option<&str>) -> ProviderOptions {
    ProviderOptions {
        name: name.into(),
        base_url: base,
        api_key: key.map(String::from),
        timeout: Duration::from_secs(10),
        ..ProviderOptions::new(kind, "m")
    }
}

/// Retries fast enough for tests; delays are never asserted.
pub fn fast(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(50),
    }
}

pub fn request<'a>(
    system: &'a str,
    messages: &'a [ChatMessage],
    tools: &'a [ToolSpec],
) -> CompletionRequest<'a> {
    CompletionRequest {
        system,
        messages,
        tools,
    }
}

pub fn read_file_tool() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "read_file".into(),
        description: "Reads a file in the workspace.".into(),
        parameters: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }]
}

pub fn assistant_with(calls: Vec<ToolCall>) -> ChatMessage {
    ChatMessage {
        role: Role::Assistant,
        content: String::new(),
        tool_calls: calls,
        tool_call_id: None,
        images: Vec::new(),
    }
}
