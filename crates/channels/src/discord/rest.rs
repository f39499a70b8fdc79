//! Discord REST calls and the one place their failures become
//! [`ChannelError`]s.
//!
//! Errors are `{"message": "...", "code": N}` with the HTTP status
//! (<https://discord.com/developers/docs/reference#error-messages>); a 429
//! is `{"message", "retry_after": seconds, "global": bool}`. Rate-limit
//! headers feed [`Limits`], so a request known to be over its bucket is
//! not sent at all: it fails at once with the wait, like a 429 would.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use picoclaw_core::{redact, ChannelError};
use picoclaw_http::{Client, HttpError, Response};
use serde_json::Value;

use super::ratelimit::{secs, Hold, Limits};

/// Why a call did not produce a result.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No HTTP response at all (timeout, refused, reset, truncated).
    Transport(HttpError),
    /// Not sent: a known limit (bucket or global) is exhausted.
    Held(Hold),
    /// An error answer.
    Api {
        status: u16,
        code: Option<u64>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// A 2xx whose body is not the documented JSON.
    Malformed(String),
}

pub(crate) struct Rest {
    http: Client,
    /// `https://discord.com/api/v10`, no trailing slash; safe to show.
    pub(crate) api_base: String,
    /// `Bot <token>`; secret.
    auth: String,
    limits: Mutex<Limits>,
}

impl Rest {
    pub(crate) fn new(http: Client, api_base: &str, token: &str) -> Rest {
        Rest {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            auth: format!("Bot {token}"),
            limits: Mutex::new(Limits::default()),
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One request. `route` names the rate-limit route (method and path
    /// template), `major` its major parameter, `path` the real path.
    pub(crate) fn call(
        &self,
        route: &'static str,
        major: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        if let Some(hold) = self.limits().wait(route, major, Instant::now()) {
            return Err(Failure::Held(hold));
        }
        let url = format!("{}{path}", self.api_base);
        let headers = [("authorization", self.auth.as_str())];
        let resp = if route.starts_with("GET ") {
            self.http.get_with(&url, &headers, None)
        } else {
            match body {
                Some(b) => self
                    .http
                    .post_json(&url, &headers, b.to_string().as_bytes(), None),
                None => self.http.post_empty(&url, &headers, None),
            }
        }
        .map_err(Failure::Transport)?;
        self.settle(route, major, &resp)
    }

    /// A message with one file in `channel` (`multipart/form-data`:
    /// `payload_json` and `files[0]`), on the same route and rate limits as
    /// a text message sent with [`Rest::call`].
    pub(crate) fn post_multipart(
        &self,
        channel: &str,
        content_type: &str,
        body: &mut dyn std::io::Read,
        len: u64,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let (route, major) = ("POST /channels/{id}/messages", channel);
        if let Some(hold) = self.limits().wait(route, major, Instant::now()) {
            return Err(Failure::Held(hold));
        }
        let url = format!("{}/channels/{channel}/messages", self.api_base);
        let headers = [("authorization", self.auth.as_str())];
        let resp = self
            .http
            .post_reader(&url, &headers, content_type, body, len, Some(timeout))
            .map_err(Failure::Transport)?;
        self.settle(route, major, &resp)
    }

    /// Downloads an attachment URL (Discord's CDN, which needs no token:
    /// none is sent) into `out`.
    pub(crate) fn download(
        &self,
        url: &str,
        max: u64,
        out: &mut dyn std::io::Write,
        timeout: Duration,
    ) -> Result<picoclaw_http::Download, HttpError> {
        self.http.download(url, &[], max, out, Some(timeout))
    }

    /// Feeds the rate limits from an answer and classifies it.
    fn settle(&self, route: &'static str, major: &str, resp: &Response) -> Result<Value, Failure> {
        let now = Instant::now();
        self.limits().update(
            route,
            major,
            &|name| resp.header(name).map(str::to_owned),
            now,
        );
        if resp.status == 429 {
            let failure = rate_limited(resp);
            if let Failure::Api {
                retry_after: Some(after),
                ..
            } = &failure
            {
                let global = is_global(resp);
                self.limits().limited(route, major, *after, global, now);
            }
            return Err(failure);
        }
        parse(resp)
    }
}

fn is_global(resp: &Response) -> bool {
    let body_global = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("global").and_then(Value::as_bool))
        .unwrap_or(false);
    body_global
        || resp
            .header("x-ratelimit-global")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn rate_limited(resp: &Response) -> Failure {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    // The body's value has milliseconds; the header is whole seconds.
    let retry_after = body
        .get("retry_after")
        .and_then(|v| v.as_f64().map(|f| f.to_string()))
        .and_then(|s| secs(&s))
        .or(resp.retry_after)
        .or(Some(Duration::from_secs(1)));
    Failure::Api {
        status: 429,
        code: body.get("code").and_then(Value::as_u64),
        message: body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("You are being rate limited.")
            .to_owned(),
        retry_after,
    }
}

fn parse(resp: &Response) -> Result<Value, Failure> {
    if resp.status == 204 {
        return Ok(Value::Null);
    }
    let value = serde_json::from_slice::<Value>(&resp.body);
    if resp.is_success() {
        return value.map_err(|e| {
            // The body may hold user messages: report its size, not content.
            Failure::Malformed(format!(
                "HTTP {} with a {}-byte body that is not JSON ({e})",
                resp.status,
                resp.body.len()
            ))
        });
    }
    let (code, message) = match &value {
        Ok(v) => (
            v.get("code").and_then(Value::as_u64),
            v.get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| resp.body_snippet()),
        ),
        Err(_) => (None, format!("non-JSON body: {}", resp.body_snippet())),
    };
    Err(Failure::Api {
        status: resp.status,
        code,
        message,
        retry_after: resp.retry_after,
    })
}

/// The hint every fatal token error ends with.
pub(crate) const TOKEN_HINT: &str =
    "Copy the token from https://discord.com/developers/applications \
     → your application → Bot → Reset Token into channels.discord.token (check \
     channels.discord.api_base too); run `picoclaw doctor`.";

/// Classifies a failed call; `what` names it for messages ("create
/// message"). The result is scrubbed of registered secrets.
pub(crate) fn to_channel_error(what: &str, api_base: &str, failure: Failure) -> ChannelError {
    let err = match failure {
        Failure::Transport(HttpError::Invalid(why)) => ChannelError::Fatal(format!(
            "cannot reach the Discord API: invalid URL or proxy ({why}); check \
             channels.discord.api_base and channels.discord.proxy"
        )),
        Failure::Transport(e) => ChannelError::Retry {
            reason: format!("Discord {what}: {e}"),
            after: None,
        },
        Failure::Held(Hold::Global(after)) => ChannelError::Retry {
            reason: format!("Discord {what}: held by the global rate limit"),
            after: Some(after),
        },
        Failure::Held(Hold::Route(after)) => ChannelError::Retry {
            reason: format!("Discord {what}: rate-limit bucket exhausted"),
            after: Some(after),
        },
        Failure::Malformed(why) => ChannelError::Retry {
            reason: format!("Discord {what}: unexpected answer: {why}"),
            after: None,
        },
        Failure::Api {
            status,
            code,
            message,
            retry_after,
        } => {
            let detail = match code {
                Some(c) => format!("{message} (code {c})"),
                None => message,
            };
            match status {
                401 => ChannelError::Fatal(format!(
                    "Discord rejected the bot token (HTTP 401: {detail}). {TOKEN_HINT}"
                )),
                403 => ChannelError::Rejected {
                    status,
                    message: format!(
                        "{detail}; the bot needs the View Channel, Send Messages and Read \
                         Message History permissions there"
                    ),
                },
                404 if what == "get gateway" || what == "get current user" => {
                    ChannelError::Fatal(format!(
                        "Discord answered HTTP 404 ({detail}) for {what}: {api_base} is not \
                         the Discord API. {TOKEN_HINT}"
                    ))
                }
                429 => ChannelError::Retry {
                    reason: format!("Discord rate limit on {what}: {detail}"),
                    after: retry_after,
                },
                400..=499 => ChannelError::Rejected {
                    status,
                    message: detail,
                },
                _ => ChannelError::Retry {
                    reason: format!("Discord {what}: HTTP {status}: {detail}"),
                    after: retry_after,
                },
            }
        }
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

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            retry_after: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn classify(r: &Response, what: &str) -> ChannelError {
        let failure = if r.status == 429 {
            rate_limited(r)
        } else {
            parse(r).unwrap_err()
        };
        to_channel_error(what, "http://127.0.0.1:1/api/v10", failure)
    }

    #[test]
    fn a_429_waits_the_body_retry_after_with_milliseconds() {
        let r = resp(
            429,
            &[("retry-after", "1")],
            r#"{"message":"You are being rate limited.","retry_after":0.35,"global":false}"#,
        );
        match classify(&r, "create message") {
            ChannelError::Retry { after, .. } => {
                assert_eq!(after, Some(Duration::from_millis(350)))
            }
            other => panic!("{other:?}"),
        }
        assert!(!is_global(&r));
        assert!(is_global(&resp(
            429,
            &[("X-RateLimit-Global", "true")],
            "{}"
        )));
    }

    #[test]
    fn a_bad_token_is_fatal_with_the_portal_hint() {
        let r = resp(401, &[], r#"{"message":"401: Unauthorized","code":0}"#);
        match classify(&r, "create message") {
            ChannelError::Fatal(m) => {
                assert!(
                    m.starts_with(
                        "Discord rejected the bot token (HTTP 401: 401: Unauthorized (code 0))"
                    ),
                    "{m}"
                );
                assert!(m.contains("Reset Token"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_permissions_reject_the_message_with_what_to_grant() {
        let r = resp(
            403,
            &[],
            r#"{"message":"Missing Permissions","code":50013}"#,
        );
        match classify(&r, "create message") {
            ChannelError::Rejected { status, message } => {
                assert_eq!(status, 403);
                assert!(
                    message.starts_with("Missing Permissions (code 50013); "),
                    "{message}"
                );
                assert!(message.contains("Send Messages"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_and_html_pages_are_retried() {
        assert!(matches!(
            classify(
                &resp(502, &[], "<html>bad gateway</html>"),
                "create message"
            ),
            ChannelError::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(&resp(200, &[], "<html>hi</html>"), "create message"),
            ChannelError::Retry { after: None, .. }
        ));
    }

    #[test]
    fn a_token_in_a_transport_error_is_scrubbed() {
        redact::register("discord-secret-token-for-scrub");
        let f = Failure::Transport(HttpError::Connection(String::from(
            "Bot discord-secret-token-for-scrub: reset",
        )));
        match to_channel_error("typing", "http://x", f) {
            ChannelError::Retry { reason, .. } => {
                assert_eq!(reason, "Discord typing: connection failed: Bot ***: reset")
            }
            other => panic!("{other:?}"),
        }
    }
}
