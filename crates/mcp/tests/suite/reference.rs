//! Interop with the official reference servers from npm, run for real:
//! server-everything over stdio, streamable HTTP and legacy HTTP+SSE,
//! server-filesystem and server-memory over stdio. `scripts/mcp-servers`
//! installs them (CI runs it first); without them these tests fail and say
//! so rather than pass silently.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use picoclaw_core::ToolOutput;
use picoclaw_mcp::{McpError, ServerOptions, ServerState, Transport, PASSED_ENV};
use serde_json::{json, Value};

use super::util::*;

fn servers_dir() -> PathBuf {
    std::env::var_os("PICOCLAW_MCP_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/mcp-servers"
            ))
        })
}

/// `dist/index.js` of an installed reference server.
fn script(package: &str) -> String {
    let path = servers_dir().join(format!(
        "node_modules/@modelcontextprotocol/{package}/dist/index.js"
    ));
    assert!(
        path.is_file(),
        "MCP reference server {package} is not installed at {}: run scripts/mcp-servers \
         (or point PICOCLAW_MCP_SERVERS at an install)",
        path.display()
    );
    path.display().to_string()
}

fn node(name: &str, package: &str, args: &[&str], env: &[(&str, &str)]) -> ServerOptions {
    let mut all = vec![script(package)];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut o = ServerOptions::new(
        name,
        Transport::Stdio {
            command: "node".into(),
            args: all,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    );
    o.timeout = Duration::from_secs(30);
    o.restart_backoff = (Duration::from_millis(50), Duration::from_millis(500));
    o
}

fn everything() -> ServerOptions {
    node("everything", "server-everything", &["stdio"], &[])
}

#[test]
fn everything_over_stdio_lists_its_tools_and_answers_calls() {
    let m = start_ready(vec![everything()]);
    let s = status(&m, "everything");
    assert_eq!(s.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(
        s.server_info.as_deref(),
        Some("mcp-servers/everything 2.0.0")
    );
    let names: Vec<String> = m.tools().iter().map(|t| t.spec().name).collect();
    for expected in [
        "mcp_everything_echo",
        "mcp_everything_get-sum",
        "mcp_everything_get-tiny-image",
        "mcp_everything_get-resource-links",
        "mcp_everything_trigger-long-running-operation",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let sum = tool(&m, "mcp_everything_get-sum").spec();
    assert_eq!(
        sum.parameters["properties"]["a"]["type"], "number",
        "{sum:?}"
    );
    assert_eq!(
        call(&m, "mcp_everything_echo", json!({"message": "hello"})),
        ToolOutput::ok("Echo: hello")
    );
    assert_eq!(
        call(&m, "mcp_everything_get-sum", json!({"a": 2, "b": 3})),
        ToolOutput::ok("The sum of 2 and 3 is 5.")
    );
    let image = call(&m, "mcp_everything_get-tiny-image", json!({}));
    assert!(!image.is_error);
    assert!(image.content.contains("[image image/png, "), "{image:?}");
    assert!(
        image.content.len() < 500,
        "the image data itself is not passed on"
    );
    let links = call(&m, "mcp_everything_get-resource-links", json!({"count": 2}));
    assert_eq!(
        links.content.matches("[resource link] ").count(),
        2,
        "{links:?}"
    );
    let bad = call(&m, "mcp_everything_get-sum", json!({"a": "two"}));
    assert!(
        bad.is_error,
        "invalid arguments come back as an error: {bad:?}"
    );
}

#[test]
fn everything_announces_a_tool_list_change_after_initialized_and_it_is_refetched() {
    // server-everything registers its task tool once initialized and sends
    // notifications/tools/list_changed for it.
    let m = start_ready(vec![everything()]);
    let s = wait_for("a list refresh", Duration::from_secs(20), || {
        let s = status(&m, "everything");
        (s.list_refreshes >= 1).then_some(s)
    });
    assert_eq!(s.restarts, 0);
    // It can only run as a task, which picoclaw does not do: not offered.
    assert!(
        s.hidden_tools
            .iter()
            .any(|t| t == "simulate-research-query"),
        "{s:?}"
    );
    assert!(!m
        .tools()
        .iter()
        .any(|t| t.spec().name.contains("simulate-research")));
}

#[test]
fn everything_sees_only_the_passed_environment() {
    let mut o = everything();
    if let Transport::Stdio { env, .. } = &mut o.transport {
        env.push(("GIVEN_TO_SERVER".into(), "yes".into()));
    }
    let m = start_ready(vec![o]);
    let out = call(&m, "mcp_everything_get-env", json!({}));
    let env: serde_json::Map<String, Value> = serde_json::from_str(&out.content).unwrap();
    let keys: Vec<&str> = env.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = PASSED_ENV
        .iter()
        .copied()
        .filter(|k| std::env::var_os(k).is_some())
        .collect();
    expected.push("GIVEN_TO_SERVER");
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
}

#[test]
fn a_timed_out_call_is_cancelled_and_the_live_server_is_kept() {
    let m = start_ready(vec![everything()]);
    let pid = status(&m, "everything").pid;
    let out = tool(&m, "mcp_everything_trigger-long-running-operation").call(
        &ctx(Duration::from_millis(500)),
        &json!({"duration": 30, "steps": 30}),
    );
    assert!(
        out.is_error && out.content.contains("no answer within"),
        "{out:?}"
    );
    assert_eq!(
        call(&m, "mcp_everything_echo", json!({"message": "still"})),
        ToolOutput::ok("Echo: still")
    );
    let s = status(&m, "everything");
    assert_eq!((s.restarts, s.pid), (0, pid));
}

#[test]
fn a_server_killed_mid_call_fails_the_call_cleanly_and_comes_back() {
    let m = start_ready(vec![everything()]);
    let pid = status(&m, "everything").pid.unwrap();
    let long = tool(&m, "mcp_everything_trigger-long-running-operation");
    let worker = std::thread::spawn(move || {
        long.call(
            &ctx(Duration::from_secs(60)),
            &json!({"duration": 30, "steps": 30}),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = worker.join().unwrap();
    assert!(out.is_error, "{out:?}");
    assert!(
        out.content.contains("connection to the server lost"),
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "ended by the crash, not the operation"
    );
    let s = wait_for("the restarted server", Duration::from_secs(30), || {
        let s = status(&m, "everything");
        (s.state == ServerState::Ready && s.restarts == 1).then_some(s)
    });
    assert_ne!(s.pid, Some(pid));
    assert_eq!(
        call(&m, "mcp_everything_echo", json!({"message": "back"})),
        ToolOutput::ok("Echo: back")
    );
}

/// A reference server in one of its HTTP modes, listening on 127.0.0.1.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(mode: &str) -> HttpServer {
        let mut child = Command::new("node")
            .arg("--require")
            .arg(support("loopback.cjs"))
            .arg(script("server-everything"))
            .arg(mode)
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("LOOPBACK_PORT=") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server-everything did not report its port");
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn everything_over_streamable_http_lists_and_calls_tools() {
    let server = HttpServer::start("streamableHttp");
    let mut o = ServerOptions::http("web", format!("http://127.0.0.1:{}/mcp", server.port));
    o.timeout = Duration::from_secs(30);
    let m = start_ready(vec![o]);
    let s = status(&m, "web");
    assert_eq!(s.connection.as_deref(), Some("http"));
    assert_eq!(s.protocol_version.as_deref(), Some("2025-11-25"));
    assert!(m.tools().iter().any(|t| t.spec().name == "mcp_web_get-sum"));
    // The server answers tools/call over an SSE stream and refuses requests
    // without the session id it assigned, so this proves both.
    assert_eq!(
        call(&m, "mcp_web_echo", json!({"message": "over http"})),
        ToolOutput::ok("Echo: over http")
    );
    assert_eq!(
        call(&m, "mcp_web_get-sum", json!({"a": 40, "b": 2})),
        ToolOutput::ok("The sum of 40 and 2 is 42.")
    );
    let out = tool(&m, "mcp_web_trigger-long-running-operation").call(
        &ctx(Duration::from_millis(500)),
        &json!({"duration": 30, "steps": 30}),
    );
    assert!(
        out.is_error && out.content.contains("no answer within"),
        "{out:?}"
    );
    assert_eq!(status(&m, "web").restarts, 0);
}

#[test]
fn everything_over_legacy_http_sse_is_reached_through_the_fallback() {
    let server = HttpServer::start("sse");
    let mut o = ServerOptions::http("old", format!("http://127.0.0.1:{}/sse", server.port));
    o.timeout = Duration::from_secs(30);
    let m = start_ready(vec![o]);
    let s = status(&m, "old");
    assert_eq!(s.connection.as_deref(), Some("http+sse (legacy)"));
    assert_eq!(
        call(&m, "mcp_old_echo", json!({"message": "legacy"})),
        ToolOutput::ok("Echo: legacy")
    );
}

#[test]
fn filesystem_reads_inside_its_allowed_directory_and_refuses_outside() {
    let dir = TempDir::new("fs");
    let allowed = dir.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(allowed.join("hello.txt"), "hello from the allowed dir\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside\n").unwrap();
    let allowed = allowed.canonicalize().unwrap();
    let m = start_ready(vec![node(
        "fs",
        "server-filesystem",
        &[allowed.to_str().unwrap()],
        &[],
    )]);
    let inside = call(
        &m,
        "mcp_fs_read_text_file",
        json!({"path": allowed.join("hello.txt")}),
    );
    assert_eq!(inside, ToolOutput::ok("hello from the allowed dir\n"));
    let outside = call(
        &m,
        "mcp_fs_read_text_file",
        json!({"path": dir.path().canonicalize().unwrap().join("secret.txt")}),
    );
    assert!(outside.is_error, "{outside:?}");
    assert!(outside.content.contains("Access denied"), "{outside:?}");
    assert!(!outside.content.contains("outside\n"));
    let listing = call(&m, "mcp_fs_list_directory", json!({"path": allowed}));
    assert_eq!(listing, ToolOutput::ok("[FILE] hello.txt"));
}

#[test]
fn memory_stores_entities_in_the_file_its_environment_names() {
    let dir = TempDir::new("memory");
    let file = dir.path().join("memory.jsonl");
    let m = start_ready(vec![node(
        "memory",
        "server-memory",
        &[],
        &[("MEMORY_FILE_PATH", file.to_str().unwrap())],
    )]);
    let created = call(
        &m,
        "mcp_memory_create_entities",
        json!({"entities": [{"name": "picoclaw", "entityType": "project", "observations": ["runs on boards"]}]}),
    );
    assert!(!created.is_error, "{created:?}");
    let graph = call(&m, "mcp_memory_read_graph", json!({}));
    let graph: Value = serde_json::from_str(&graph.content).unwrap();
    assert_eq!(graph["entities"][0]["name"], "picoclaw");
    assert_eq!(
        graph["entities"][0]["observations"],
        json!(["runs on boards"])
    );
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains("\"name\":\"picoclaw\""), "{stored}");
    assert!(matches!(
        m.call("memory", "no_such_tool", json!({})),
        Err(McpError::Rpc { .. }) | Ok(ToolOutput { is_error: true, .. })
    ));
}
