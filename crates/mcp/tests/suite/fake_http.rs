//! Streamable HTTP against a fake endpoint that follows the transport
//! spec: JSON and SSE answers, session ids, the protocol version header,
//! server requests inside a POST's SSE stream, session expiry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_core::ToolOutput;
use picoclaw_mcp::{ServerOptions, ServerState};
use picoclaw_testkit::http::{Reply, Request, Server};
use serde_json::{json, Value};

use super::util::*;

struct Fake {
    server: Server,
    requests: Arc<Mutex<Vec<Request>>>,
    expire_next_call: Arc<AtomicBool>,
}

fn sse(events: &[&str]) -> Reply {
    Reply::raw(200, "text/event-stream", events.concat())
}

fn fake_endpoint() -> Fake {
    let requests = Arc::new(Mutex::new(Vec::<Request>::new()));
    let expire = Arc::new(AtomicBool::new(false));
    let (log, exp) = (requests.clone(), expire.clone());
    let sessions = Arc::new(Mutex::new(0u32));
    let server = Server::start(move |req: &Request| {
        log.lock().unwrap().push(req.clone());
        let current = format!("sess-{}", *sessions.lock().unwrap());
        match req.method.as_str() {
            "GET" => return Reply::raw(405, "text/plain", ""),
            "DELETE" => return Reply::raw(200, "text/plain", ""),
            _ => {}
        }
        let msg = req.json().unwrap_or(Value::Null);
        let method = msg["method"].as_str().unwrap_or("");
        if method == "initialize" {
            let mut n = sessions.lock().unwrap();
            *n += 1;
            let body = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-http", "version": n.to_string()}}});
            return Reply::json(200, &body).with_header("Mcp-Session-Id", &format!("sess-{n}"));
        }
        if req.header("mcp-session-id") != Some(current.as_str()) {
            return Reply::json(
                400,
                &json!({"jsonrpc": "2.0", "error": {"code": -32000, "message": "Bad Request: No valid session ID provided"}}),
            );
        }
        if msg.get("method").is_none() || method.starts_with("notifications/") {
            return Reply::raw(202, "text/plain", "");
        }
        let id = msg["id"].clone();
        match method {
            "tools/list" => Reply::json(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                {"name": "echo", "inputSchema": {"type": "object"}}]}}),
            ),
            "tools/call" if exp.swap(false, Ordering::SeqCst) => {
                Reply::raw(404, "text/plain", "no such session")
            }
            "tools/call" => {
                let text = format!(
                    "echo: {}",
                    msg["params"]["arguments"]["text"].as_str().unwrap_or("")
                );
                let ping = json!({"jsonrpc": "2.0", "id": "sp1", "method": "ping"}).to_string();
                let note = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "working"}}).to_string();
                let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}]}}).to_string();
                sse(&[
                    "id: e1\ndata:\n\n",
                    &format!("event: message\ndata: {ping}\n\n"),
                    &format!(": comment\ndata: {note}\n\n"),
                    &format!("id: e2\nevent: message\ndata: {answer}\n\n"),
                ])
            }
            "ping" => Reply::json(200, &json!({"jsonrpc": "2.0", "id": id, "result": {}})),
            _ => Reply::json(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}),
            ),
        }
    });
    Fake {
        server,
        requests,
        expire_next_call: expire,
    }
}

fn http_opts(fake: &Fake) -> ServerOptions {
    let mut o = ServerOptions::http("web", format!("{}/mcp", fake.server.url()));
    if let picoclaw_mcp::Transport::Http { headers, .. } = &mut o.transport {
        headers.push(("Authorization".into(), "Bearer t0ken".into()));
    }
    o.timeout = Duration::from_secs(10);
    o.restart_backoff = (Duration::from_millis(20), Duration::from_millis(200));
    o
}

#[test]
fn streamable_http_carries_session_and_version_headers_and_reads_sse_answers() {
    let fake = fake_endpoint();
    let m = start_ready(vec![http_opts(&fake)]);
    let s = status(&m, "web");
    assert_eq!(s.connection.as_deref(), Some("http"));
    assert_eq!(s.server_info.as_deref(), Some("fake-http 1"));
    assert_eq!(
        call(&m, "mcp_web_echo", json!({"text": "over http"})),
        ToolOutput::ok("echo: over http")
    );
    m.shutdown();

    let reqs = fake.requests.lock().unwrap().clone();
    let posts: Vec<&Request> = reqs.iter().filter(|r| r.method == "POST").collect();
    let first = posts[0];
    assert_eq!(first.json().unwrap()["method"], "initialize");
    assert_eq!(first.header("mcp-session-id"), None);
    assert_eq!(first.header("mcp-protocol-version"), None);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer t0ken"), "{r:?}");
        assert_eq!(r.path, "/mcp");
    }
    for r in posts.iter() {
        assert_eq!(
            r.header("accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    for r in reqs.iter().skip(1) {
        assert_eq!(r.header("mcp-session-id"), Some("sess-1"), "{r:?}");
        assert_eq!(
            r.header("mcp-protocol-version"),
            Some("2025-11-25"),
            "{r:?}"
        );
    }
    let bodies: Vec<Value> = posts.iter().map(|r| r.json().unwrap()).collect();
    let pong = bodies
        .iter()
        .find(|b| b["id"] == "sp1")
        .expect("the server's ping was answered");
    assert_eq!(pong, &json!({"jsonrpc": "2.0", "id": "sp1", "result": {}}));
    assert!(bodies
        .iter()
        .any(|b| b["method"] == "notifications/initialized"));
    assert!(
        reqs.iter()
            .any(|r| r.method == "GET" && r.header("accept") == Some("text/event-stream")),
        "the GET stream for server notifications was tried"
    );
    assert_eq!(
        reqs.last().map(|r| r.method.as_str()),
        Some("DELETE"),
        "shutdown ends the session"
    );
}

#[test]
fn an_expired_session_fails_the_call_and_a_new_session_is_started() {
    let fake = fake_endpoint();
    let m = start_ready(vec![http_opts(&fake)]);
    fake.expire_next_call.store(true, Ordering::SeqCst);
    let out = call(&m, "mcp_web_echo", json!({"text": "lost"}));
    assert!(out.is_error, "{out:?}");
    let s = wait_for("the new session", Duration::from_secs(20), || {
        let s = status(&m, "web");
        (s.state == ServerState::Ready && s.restarts == 1).then_some(s)
    });
    assert_eq!(s.server_info.as_deref(), Some("fake-http 2"));
    assert_eq!(
        call(&m, "mcp_web_echo", json!({"text": "found"})),
        ToolOutput::ok("echo: found")
    );
    let reqs = fake.requests.lock().unwrap().clone();
    let last_call = reqs
        .iter()
        .rev()
        .find(|r| r.json().is_some_and(|b| b["method"] == "tools/call"))
        .unwrap();
    assert_eq!(last_call.header("mcp-session-id"), Some("sess-2"));
}

#[test]
fn a_url_that_is_neither_transport_reports_both_attempts() {
    let server = Server::start(|_req: &Request| Reply::raw(404, "text/plain", "nothing here"));
    let mut o = ServerOptions::http("nowhere", format!("{}/mcp", server.url()));
    o.restart_backoff = (Duration::from_millis(20), Duration::from_millis(200));
    let m = start(vec![o]);
    assert!(!m.wait_ready(Duration::from_secs(20)));
    let err = status(&m, "nowhere").last_error.unwrap_or_default();
    assert!(
        err.contains("initialize POST: HTTP 404: nothing here"),
        "{err}"
    );
    assert!(err.contains("legacy HTTP+SSE: HTTP 404"), "{err}");
    assert!(m.tools().is_empty());
}
