//! The one place where HTTP outcomes become [`ProviderError`] classes, so
//! the OpenAI and Anthropic formats retry and fall back identically.

use picoclaw_core::ProviderError;
use picoclaw_http::{Client, HttpError, Response};

/// POSTs `body` and returns the response body of a 2xx answer; every other
/// outcome is classified.
pub(crate) fn post(
    client: &Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<u8>, ProviderError> {
    let resp = client
        .post_json(url, headers, body, None)
        .map_err(|e| crate::reach::classify(e, url))?;
    if resp.is_success() {
        Ok(resp.body)
    } else {
        Err(classify(&resp))
    }
}

/// Classifies a non-2xx response.
pub(crate) fn classify(resp: &Response) -> ProviderError {
    let message = || error_message(&resp.body).unwrap_or_else(|| resp.body_snippet());
    match resp.status {
        429 => ProviderError::RateLimited {
            retry_after: resp.retry_after,
        },
        401 | 403 => ProviderError::Auth {
            status: resp.status,
            message: message(),
        },
        // 408 is the server giving up on a slow upload: transient like a 5xx.
        // 529 is Anthropic's "overloaded".
        408 | 500..=599 => ProviderError::Server {
            status: resp.status,
        },
        400..=499 if is_context_length(&resp.body) => {
            ProviderError::ContextLength { message: message() }
        }
        400..=499 => ProviderError::Request {
            status: resp.status,
            message: message(),
        },
        // 1xx/3xx (redirects are not followed): a proxy or a wrong base_url.
        other => ProviderError::Decode(format!("unexpected HTTP {other}: {}", resp.body_snippet())),
    }
}

/// Whether a 4xx body says the prompt does not fit the context window, in
/// any of the shapes servers use: OpenAI's `code`, or the wording of
/// OpenAI, Anthropic, llama.cpp, vLLM and Ollama.
fn is_context_length(body: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = v.pointer("/error/code").and_then(|c| c.as_str());
    let kind = v.pointer("/error/type").and_then(|c| c.as_str());
    if code == Some("context_length_exceeded") || kind == Some("exceed_context_size_error") {
        return true;
    }
    let text = String::from_utf8_lossy(body).to_lowercase();
    [
        "maximum context length",
        "context_length_exceeded",
        "prompt is too long",
        "exceeds the available context size",
        "context window",
        "too many tokens",
    ]
    .iter()
    .any(|p| text.contains(p))
}

pub(crate) fn from_http(e: HttpError) -> ProviderError {
    match e {
        HttpError::TooLarge(_) => ProviderError::Decode(e.to_string()),
        other => ProviderError::Transport(other.to_string()),
    }
}

/// The human message from an error body. OpenAI uses
/// `{"error":{"message":..}}`, Anthropic `{"type":"error","error":{"type":..,
/// "message":..}}`; Ollama and some proxies send `{"error":"..."}` or
/// `{"message":"..."}`.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error");
    let text = err
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .or_else(|| err.and_then(|e| e.as_str()))
        .or_else(|| v.get("message").and_then(|m| m.as_str()))?;
    let kind = err
        .and_then(|e| e.get("type"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty());
    Some(match kind {
        Some(kind) => format!("{kind}: {text}"),
        None => text.to_string(),
    })
}

/// Decodes a 2xx body, mapping any mismatch to [`ProviderError::Decode`]
/// with a short excerpt of what arrived.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let excerpt: String = text.chars().take(120).collect();
        ProviderError::Decode(format!("{e}; body starts {excerpt:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            retry_after: None,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_retry_classes() {
        let mut r = resp(429, "{}");
        r.retry_after = Some(Duration::from_secs(3));
        assert!(matches!(
            classify(&r),
            ProviderError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(&resp(529, "")),
            ProviderError::Server { status: 529 }
        ));
        assert!(matches!(
            classify(&resp(503, "<html>")),
            ProviderError::Server { status: 503 }
        ));
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        match classify(&resp(401, anthropic)) {
            ProviderError::Auth { status, message } => {
                assert_eq!(
                    (status, message.as_str()),
                    (401, "authentication_error: invalid x-api-key")
                )
            }
            other => panic!("{other:?}"),
        }
        let openai = r#"{"error":{"message":"context too long","type":"invalid_request_error","param":null,"code":null}}"#;
        match classify(&resp(400, openai)) {
            ProviderError::Request { status, message } => {
                assert_eq!(
                    (status, message.as_str()),
                    (400, "invalid_request_error: context too long")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_prompt_over_the_context_window_is_recognised_in_each_vendor_shape() {
        let bodies = [
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208012 tokens > 200000 maximum"}}"#,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
        ];
        for b in bodies {
            assert!(
                matches!(classify(&resp(400, b)), ProviderError::ContextLength { .. }),
                "{b}"
            );
        }
        let other = r#"{"error":{"message":"invalid model","type":"invalid_request_error","code":"model_not_found"}}"#;
        assert!(matches!(
            classify(&resp(400, other)),
            ProviderError::Request { .. }
        ));
    }

    #[test]
    fn error_messages_in_other_shapes_are_found() {
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#).as_deref(),
            Some("model 'x' not found")
        );
        assert_eq!(
            error_message(br#"{"message":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(b"<html>bad gateway</html>"), None);
        match classify(&resp(404, "<html>not here</html>")) {
            ProviderError::Request { message, .. } => assert_eq!(message, "<html>not here</html>"),
            other => panic!("{other:?}"),
        }
    }
}
