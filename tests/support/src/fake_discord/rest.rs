//! The fake's REST API under `/api/v10`, with per-(route, channel) buckets
//! and a global limit enforced as Discord does.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{Bucket, Fault, RestCall, SentMessage, Shared, State, BOT_ID, BOT_NAME};
use crate::http::{Reply, Request};

fn error(status: u16, message: &str, code: u64) -> Reply {
    Reply::json(status, &json!({"message": message, "code": code}))
}

/// The route template and major parameter of a path (without `/api/v10`).
fn route_of(method: &str, path: &str) -> Option<(&'static str, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["users", "@me"]) => Some(("GET /users/@me", String::new())),
        ("GET", ["gateway", "bot"]) => Some(("GET /gateway/bot", String::new())),
        ("POST", ["channels", id, "messages"]) => {
            Some(("POST /channels/{id}/messages", (*id).to_owned()))
        }
        ("POST", ["channels", id, "typing"]) => {
            Some(("POST /channels/{id}/typing", (*id).to_owned()))
        }
        _ => None,
    }
}

pub(super) fn handle(shared: &Shared, req: &Request) -> Reply {
    let mut st = shared.lock();
    if req.method == "GET" && req.path.starts_with("/attachments/") {
        return match st.cdn.get(&req.path).cloned() {
            Some(bytes) => {
                st.downloads += 1;
                shared.changed.notify_all();
                Reply::raw(200, "application/octet-stream", bytes.as_slice().to_vec())
            }
            None => Reply::raw(404, "text/plain", "Not Found"),
        };
    }
    let reply = answer(&mut st, &shared.gateway_base(), req);
    let status = match &reply {
        Reply::Full { status, .. } => *status,
        _ => 0,
    };
    st.calls.push(RestCall {
        method: req.method.clone(),
        path: req.path.clone(),
        at: Instant::now(),
        status,
        user_agent: req.header("user-agent").unwrap_or("").to_owned(),
    });
    shared.changed.notify_all();
    reply
}

fn answer(st: &mut State, gateway: &str, req: &Request) -> Reply {
    let Some(path) = req.path.strip_prefix("/api/v10") else {
        return error(404, "404: Not Found", 0);
    };
    let Some((route, major)) = route_of(&req.method, path) else {
        return error(404, "404: Not Found", 0);
    };
    let auth = format!("Bot {}", st.token);
    if req.header("authorization") != Some(auth.as_str()) {
        return error(401, "401: Unauthorized", 0);
    }
    let now = Instant::now();
    if let Some(fault) = st.faults.get_mut(route).and_then(|q| q.pop_front()) {
        return match fault {
            Fault::Hangup => Reply::Hangup,
            Fault::Status {
                status,
                message,
                code,
            } => error(status, &message, code),
            Fault::RateLimited {
                retry_after,
                global,
            } => {
                let wait = Duration::from_secs_f64(retry_after);
                if global {
                    st.global_until = Some(now + wait);
                } else {
                    st.buckets.insert(
                        (route.to_owned(), major.clone()),
                        Bucket {
                            remaining: 0,
                            reset_at: now + wait,
                        },
                    );
                }
                too_many(route, retry_after, global, st.limit)
            }
        };
    }
    if let Some(until) = st.global_until.filter(|u| *u > now) {
        st.violations += 1;
        return too_many(route, (until - now).as_secs_f64(), true, st.limit);
    }
    let (limit, window) = (st.limit, st.window);
    let bucket = st
        .buckets
        .entry((route.to_owned(), major.clone()))
        .or_insert(Bucket {
            remaining: limit,
            reset_at: now + window,
        });
    if now >= bucket.reset_at {
        bucket.remaining = limit;
        bucket.reset_at = now + window;
    }
    if bucket.remaining == 0 {
        let wait = (bucket.reset_at - now).as_secs_f64();
        st.violations += 1;
        return too_many(route, wait, false, limit);
    }
    bucket.remaining -= 1;
    let (remaining, reset_after) = (bucket.remaining, bucket.reset_at - now);
    let reply = match route {
        "GET /users/@me" => Reply::json(
            200,
            &json!({"id": BOT_ID, "username": BOT_NAME, "bot": true, "discriminator": "0",
                    "global_name": null, "avatar": null, "verified": true, "flags": 0}),
        ),
        "GET /gateway/bot" => Reply::json(
            200,
            &json!({
                "url": gateway,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999,
                                        "reset_after": 14_400_000, "max_concurrency": 1},
            }),
        ),
        "POST /channels/{id}/typing" => {
            if !st.channels.contains_key(&major) {
                return error(404, "Unknown Channel", 10003);
            }
            st.typing.push(major.clone());
            Reply::raw(204, "application/json", Vec::new())
        }
        _ => create_message(st, &major, req),
    };
    with_limit_headers(reply, route, limit, remaining, reset_after)
}

fn create_message(st: &mut State, channel: &str, req: &Request) -> Reply {
    let Some(known) = st.channels.get(channel) else {
        return error(404, "Unknown Channel", 10003);
    };
    let ctype = req.header("content-type").unwrap_or("");
    let (body, files) = if ctype.starts_with("multipart/form-data") {
        // payload_json plus files[n] parts, each at most 10 MiB.
        let Ok(parts) = crate::multipart::parse(ctype, &req.body) else {
            return error(400, "400: Bad Request", 0);
        };
        let Some(payload) = parts
            .iter()
            .find(|p| p.name == "payload_json")
            .and_then(|p| serde_json::from_slice::<Value>(&p.body).ok())
        else {
            return error(400, "400: Bad Request", 0);
        };
        let mut files = Vec::new();
        for p in parts.into_iter().filter(|p| p.name.starts_with("files[")) {
            if p.body.len() > 10 << 20 {
                return error(413, "Request entity too large", 40005);
            }
            files.push((p.filename.unwrap_or_default(), p.body));
        }
        (payload, files)
    } else {
        match req.json() {
            Some(b) => (b, Vec::new()),
            None => return error(400, "400: Bad Request", 0),
        }
    };
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    let units = content.encode_utf16().count();
    if (units == 0 && files.is_empty()) || units > 2000 {
        return Reply::json(
            400,
            &json!({
                "message": "Invalid Form Body", "code": 50035,
                "errors": {"content": {"_errors": [{
                    "code": "BASE_TYPE_BAD_LENGTH",
                    "message": "Must be between 1 and 2000 in length."}]}},
            }),
        );
    }
    let mut reply_to = None;
    if let Some(r) = body.get("message_reference") {
        let id = r.get("message_id").and_then(Value::as_str).unwrap_or("");
        let must_exist = r
            .get("fail_if_not_exists")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if known.iter().any(|m| m == id) {
            reply_to = Some(id.to_owned());
        } else if must_exist {
            return Reply::json(
                400,
                &json!({"message": "Invalid Form Body", "code": 50035,
                        "errors": {"message_reference": {"_errors": [{
                            "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                            "message": "Unknown message"}]}}}),
            );
        }
    }
    st.next_snowflake += 1;
    let id = st.next_snowflake.to_string();
    if let Some(list) = st.channels.get_mut(channel) {
        list.push(id.clone());
    }
    st.sent.push(SentMessage {
        id: id.clone(),
        channel_id: channel.to_owned(),
        content: content.to_owned(),
        reply_to: reply_to.clone(),
        flags: body.get("flags").and_then(Value::as_u64).unwrap_or(0),
        allowed_mentions: body.get("allowed_mentions").cloned().unwrap_or(Value::Null),
        attachments: files,
    });
    let mut msg = json!({
        "id": id, "channel_id": channel, "content": content, "type": 0,
        "author": {"id": BOT_ID, "username": BOT_NAME, "bot": true},
        "timestamp": "2025-01-01T00:00:00.000000+00:00",
    });
    if let Some(r) = reply_to {
        msg["type"] = json!(19);
        msg["message_reference"] = json!({"message_id": r, "channel_id": channel});
    }
    Reply::json(200, &msg)
}

fn bucket_hash(route: &str) -> &'static str {
    if route.ends_with("/messages") {
        "80c17d2f203122d936070c88c8d10f33"
    } else if route.ends_with("/typing") {
        "5e1ca94c8e8f2f20b5a1d8a9e9e5c0a1"
    } else {
        "41f9cd5d28af77da04563bcb1d67fdfd"
    }
}

fn with_limit_headers(
    reply: Reply,
    route: &str,
    limit: u32,
    remaining: u32,
    reset_after: Duration,
) -> Reply {
    let reset = SystemTime::now()
        .checked_add(reset_after)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    reply
        .with_header("X-RateLimit-Limit", &limit.to_string())
        .with_header("X-RateLimit-Remaining", &remaining.to_string())
        .with_header("X-RateLimit-Reset", &format!("{reset:.3}"))
        .with_header(
            "X-RateLimit-Reset-After",
            &format!("{:.3}", reset_after.as_secs_f64()),
        )
        .with_header("X-RateLimit-Bucket", bucket_hash(route))
}

fn too_many(route: &str, retry_after: f64, global: bool, limit: u32) -> Reply {
    let reply = Reply::json(
        429,
        &json!({"message": "You are being rate limited.", "retry_after": retry_after,
                "global": global}),
    )
    .with_header("Retry-After", &(retry_after.ceil() as u64).to_string())
    .with_header("X-RateLimit-Scope", if global { "global" } else { "user" });
    if global {
        reply.with_header("X-RateLimit-Global", "true")
    } else {
        with_limit_headers(
            reply,
            route,
            limit,
            0,
            Duration::from_secs_f64(retry_after.max(0.0)),
        )
    }
}
