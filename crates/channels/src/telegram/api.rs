//! Bot API calls and the one place their failures become
//! [`ChannelError`]s.
//!
//! Every method answers `{"ok":true,"result":...}` or
//! `{"ok":false,"error_code":N,"description":"...","parameters":{...}}`
//! (<https://core.telegram.org/bots/api#making-requests>). Anything else —
//! an HTML error page from a proxy, a cut-off body — is classified by HTTP
//! status and treated as transient.

use std::time::Duration;

use picoclaw_core::redact;
use picoclaw_core::ChannelError;
use picoclaw_http::{Client, HttpError, Response};
use serde_json::Value;

/// Why a call did not produce a `result`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No HTTP response at all (timeout, refused, reset, truncated).
    Transport(HttpError),
    /// An error answer: Telegram's `ok:false` or a non-2xx without one.
    Api {
        status: u16,
        description: String,
        retry_after: Option<Duration>,
    },
    /// A 2xx whose body is not the documented envelope.
    Malformed(String),
}

pub(crate) struct Api {
    /// Replaced by a fresh client (empty pool) after a hung poll.
    http: std::sync::Mutex<Client>,
    /// `{api_base}/bot{token}/`; secret, never logged unscrubbed.
    base: String,
    /// `{api_base}/file/bot{token}/`, where `getFile` paths download from.
    file_base: String,
    /// `api_base` alone, safe to show in messages.
    pub(crate) api_base: String,
}

impl Api {
    pub(crate) fn new(http: Client, api_base: &str, token: &str) -> Api {
        let api_base = api_base.trim_end_matches('/').to_owned();
        Api {
            http: std::sync::Mutex::new(http),
            base: format!("{api_base}/bot{token}/"),
            file_base: format!("{api_base}/file/bot{token}/"),
            api_base,
        }
    }

    fn client(&self) -> Client {
        self.http.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets pooled connections; calls already running keep theirs.
    pub(crate) fn reset(&self) {
        let fresh = self.client().fresh();
        *self.http.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    /// Calls `method` with a JSON body; `timeout` overrides the client's
    /// default deadline (long polls).
    pub(crate) fn call(
        &self,
        method: &str,
        params: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{method}", self.base);
        let body = params.to_string();
        let resp = self
            .client()
            .post_json(&url, &[], body.as_bytes(), timeout)
            .map_err(Failure::Transport)?;
        parse_envelope(&resp)
    }
}

impl Api {
    /// Calls `method` with a `multipart/form-data` body of `len` bytes
    /// (`content_type` names its boundary), streamed from `body`.
    pub(crate) fn call_multipart(
        &self,
        method: &str,
        content_type: &str,
        body: &mut dyn std::io::Read,
        len: u64,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let url = format!("{}{method}", self.base);
        let resp = self
            .client()
            .post_reader(&url, &[], content_type, body, len, Some(timeout))
            .map_err(Failure::Transport)?;
        parse_envelope(&resp)
    }

    /// Downloads the `file_path` `getFile` returned into `out`.
    pub(crate) fn download(
        &self,
        file_path: &str,
        max: u64,
        out: &mut dyn std::io::Write,
        timeout: Duration,
    ) -> Result<picoclaw_http::Download, HttpError> {
        let url = format!("{}{file_path}", self.file_base);
        self.client().download(&url, &[], max, out, Some(timeout))
    }
}

pub(crate) fn parse_envelope(resp: &Response) -> Result<Value, Failure> {
    let value: Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(e) if resp.is_success() => {
            // The body may hold user messages: report its size, not content.
            return Err(Failure::Malformed(format!(
                "HTTP {} with a {}-byte body that is not JSON ({e})",
                resp.status,
                resp.body.len()
            )));
        }
        Err(_) => {
            return Err(Failure::Api {
                status: resp.status,
                description: format!("non-JSON body: {}", resp.body_snippet()),
                retry_after: resp.retry_after,
            })
        }
    };
    match value.get("ok").and_then(Value::as_bool) {
        Some(true) => match value {
            Value::Object(mut map) => map
                .remove("result")
                .ok_or_else(|| Failure::Malformed(String::from("ok:true without a result"))),
            _ => Err(Failure::Malformed(String::from("body is not an object"))),
        },
        Some(false) => {
            let status = value
                .get("error_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (100..600).contains(c))
                .unwrap_or(resp.status);
            let description = value
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("(no description)")
                .to_owned();
            let retry_after = value
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
                .or(resp.retry_after);
            Err(Failure::Api {
                status,
                description,
                retry_after,
            })
        }
        None if resp.is_success() => Err(Failure::Malformed(String::from(
            "JSON body without a boolean \"ok\" field",
        ))),
        None => Err(Failure::Api {
            status: resp.status,
            description: resp.body_snippet(),
            retry_after: resp.retry_after,
        }),
    }
}

/// The doctor hint every fatal token error ends with.
const HINT: &str =
    "Check channels.telegram.token and channels.telegram.api_base; run `picoclaw doctor`.";

/// Classifies a failed call. `api_base` is shown in fatal messages (it
/// holds no secret); the result is scrubbed of registered secrets because
/// transport errors may quote the URL, which contains the token.
pub(crate) fn to_channel_error(method: &str, api_base: &str, failure: Failure) -> ChannelError {
    let err = match failure {
        Failure::Transport(HttpError::Invalid(why)) => ChannelError::Fatal(format!(
            "cannot reach the Telegram Bot API: invalid URL or proxy ({why}). {HINT}"
        )),
        Failure::Transport(e) => ChannelError::Retry {
            reason: format!("Telegram {method}: {e}"),
            after: None,
        },
        Failure::Malformed(why) => ChannelError::Retry {
            reason: format!("Telegram {method}: unexpected answer: {why}"),
            after: None,
        },
        Failure::Api {
            status,
            description,
            retry_after,
        } => match status {
            401 => ChannelError::Fatal(format!(
                "Telegram rejected the bot token (HTTP 401: {description}). {HINT}"
            )),
            404 => ChannelError::Fatal(format!(
                "Telegram answered HTTP 404 ({description}) for {method}: the bot token is \
                 wrong or {api_base} is not a Bot API server. {HINT}"
            )),
            409 => ChannelError::Retry {
                reason: format!(
                    "Telegram refused {method} (HTTP 409: {description}): another getUpdates \
                     poller is running with this token, or a webhook is set (remove it with \
                     the deleteWebhook method)"
                ),
                after: None,
            },
            429 => ChannelError::Retry {
                reason: format!("Telegram rate limit on {method}: {description}"),
                after: retry_after,
            },
            // A poll that Telegram calls a bad request will not get better
            // by being dropped; it is retried with backoff and logged.
            400..=499 if method != "getUpdates" => ChannelError::Rejected {
                status,
                message: description,
            },
            _ => ChannelError::Retry {
                reason: format!("Telegram {method}: HTTP {status}: {description}"),
                after: retry_after,
            },
        },
    };
    scrub(err)
}

fn scrub(err: ChannelError) -> ChannelError {
    match err {
        ChannelError::Retry { reason, after } => ChannelError::Retry {
            reason: redact::scrub(&reason).into_owned(),
            after,
        },
        ChannelError::Rejected { status, message } => ChannelError::Rejected {
            status,
            message: redact::scrub(&message).into_owned(),
        },
        ChannelError::Fatal(m) => ChannelError::Fatal(redact::scrub(&m).into_owned()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            retry_after: None,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn classify(status: u16, body: &str, method: &str) -> ChannelError {
        let failure = parse_envelope(&resp(status, body)).unwrap_err();
        to_channel_error(method, "http://127.0.0.1:1", failure)
    }

    #[test]
    fn ok_envelope_yields_the_result() {
        let v = parse_envelope(&resp(200, r#"{"ok":true,"result":[1,2]}"#)).unwrap();
        assert_eq!(v, serde_json::json!([1, 2]));
    }

    #[test]
    fn rate_limit_carries_retry_after_from_parameters() {
        let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        match classify(429, body, "sendMessage") {
            ChannelError::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_token_is_fatal_with_the_doctor_hint() {
        let body = r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
        match classify(401, body, "getMe") {
            ChannelError::Fatal(m) => assert_eq!(
                m,
                "Telegram rejected the bot token (HTTP 401: Unauthorized). Check \
                 channels.telegram.token and channels.telegram.api_base; run `picoclaw doctor`."
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conflict_is_retried_and_explained() {
        let body = r#"{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"}"#;
        match classify(409, body, "getUpdates") {
            ChannelError::Retry { reason, after } => {
                assert!(reason.contains("another getUpdates poller"), "{reason}");
                assert!(reason.contains("deleteWebhook"), "{reason}");
                assert_eq!(after, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn html_error_page_is_classified_by_status() {
        assert!(matches!(
            classify(502, "<html>Bad Gateway</html>", "getUpdates"),
            ChannelError::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(200, "<html>hi</html>", "getUpdates"),
            ChannelError::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(200, r#"{"result":[]}"#, "getUpdates"),
            ChannelError::Retry { after: None, .. }
        ));
    }

    #[test]
    fn request_errors_reject_sends_but_not_polls() {
        let body = r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        match classify(403, body, "sendMessage") {
            ChannelError::Rejected { status, message } => {
                assert_eq!(
                    (status, message.as_str()),
                    (403, "Forbidden: bot was blocked by the user")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(403, body, "getUpdates"),
            ChannelError::Retry { .. }
        ));
    }

    #[test]
    fn token_in_a_transport_error_is_scrubbed() {
        redact::register("777000:AAtest-secret-token");
        let f = Failure::Transport(HttpError::Connection(String::from(
            "http://x/bot777000:AAtest-secret-token/getMe: reset",
        )));
        match to_channel_error("getMe", "http://x", f) {
            ChannelError::Retry { reason, .. } => assert_eq!(
                reason,
                "Telegram getMe: connection failed: http://x/bot***/getMe: reset"
            ),
            other => panic!("{other:?}"),
        }
    }
}
