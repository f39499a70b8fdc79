//! The protocol against the scripted stdio server: listing, calling,
//! negotiation, allow-lists, server-to-client requests, list changes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::ToolOutput;
use picoclaw_mcp::{McpError, McpManager, PlainLauncher, ServerOptions, ServerState, PASSED_ENV};
use serde_json::{json, Value};

use super::util::*;

#[test]
fn tools_are_offered_as_mcp_server_tool_with_their_schema_and_answer_calls() {
    let dir = TempDir::new("basic");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let names: Vec<String> = m.tools().iter().map(|t| t.spec().name).collect();
    assert_eq!(
        names,
        [
            "mcp_fake_echo",
            "mcp_fake_env",
            "mcp_fake_mixed",
            "mcp_fake_big",
            "mcp_fake_ask_client",
            "mcp_fake_add_tool",
            "mcp_fake_slow",
            "mcp_fake_freeze",
            "mcp_fake_crash",
            "mcp_fake_deafen"
        ]
    );
    let echo = tool(&m, "mcp_fake_echo").spec();
    assert_eq!(echo.description, "Echoes text.");
    assert_eq!(
        echo.parameters,
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
    );
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "hi"})),
        ToolOutput::ok("echo: hi")
    );
    let s = status(&m, "fake");
    assert_eq!(s.state, ServerState::Ready);
    assert_eq!(s.connection.as_deref(), Some("stdio"));
    assert_eq!(s.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(s.server_info.as_deref(), Some("fake 1"));
    assert_eq!(s.restarts, 0);

    let log = logged(&dir);
    let methods: Vec<&str> = log.iter().filter_map(|m| m["method"].as_str()).collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call"
        ]
    );
    assert_eq!(log[0]["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(log[0]["params"]["capabilities"], json!({}));
    assert_eq!(log[0]["params"]["clientInfo"]["name"], "picoclaw");
    assert_eq!(
        log[3]["params"],
        json!({"name": "echo", "arguments": {"text": "hi"}})
    );
}

#[test]
fn a_paged_tool_list_is_followed_to_the_last_cursor() {
    let dir = TempDir::new("paged");
    let m = start_ready(vec![fake("fake", "paged", &dir)]);
    assert_eq!(m.tools().len(), 10);
    let cursors: Vec<Value> = logged(&dir)
        .into_iter()
        .filter(|m| m["method"] == "tools/list")
        .map(|m| m["params"]["cursor"].clone())
        .collect();
    assert_eq!(
        cursors,
        [Value::Null, json!("2"), json!("4"), json!("6"), json!("8")]
    );
}

#[test]
fn older_protocol_versions_the_server_picks_are_accepted() {
    for v in ["2025-06-18", "2025-03-26", "2024-11-05"] {
        let dir = TempDir::new("version");
        let m = start_ready(vec![fake("fake", &format!("version={v}"), &dir)]);
        assert_eq!(status(&m, "fake").protocol_version.as_deref(), Some(v));
        assert_eq!(
            call(&m, "mcp_fake_echo", json!({"text": v})).content,
            format!("echo: {v}")
        );
    }
}

#[test]
fn a_server_answering_an_unknown_protocol_version_is_not_used() {
    let dir = TempDir::new("badversion");
    let m = start(vec![fake("fake", "version=1999-01-01", &dir)]);
    assert!(!m.wait_ready(Duration::from_secs(20)));
    let s = status(&m, "fake");
    assert!(
        matches!(
            s.state,
            ServerState::Restarting { .. } | ServerState::Starting
        ),
        "{s:?}"
    );
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .contains("'1999-01-01'"),
        "{s:?}"
    );
    assert!(m.tools().is_empty());
    // It never got past initialize.
    assert!(!logged(&dir).iter().any(|m| m["method"] == "tools/list"));
}

#[test]
fn only_enabled_tools_are_offered_but_mcp_call_reaches_the_rest() {
    let dir = TempDir::new("allow");
    let mut o = fake("fake", "", &dir);
    o.enabled_tools = Some(vec!["echo".into(), "mixed".into(), "no_such_tool".into()]);
    let m = start_ready(vec![o]);
    let names: Vec<String> = m.tools().iter().map(|t| t.spec().name).collect();
    assert_eq!(names, ["mcp_fake_echo", "mcp_fake_mixed"]);
    let s = status(&m, "fake");
    assert_eq!(
        s.hidden_tools,
        [
            "env",
            "big",
            "ask_client",
            "add_tool",
            "slow",
            "freeze",
            "crash",
            "deafen"
        ]
    );
    let out = m.call("fake", "env", json!({})).unwrap();
    assert!(out.content.contains("PATH"), "{out:?}");
}

#[test]
fn content_blocks_become_text_with_notes_and_is_error_is_kept() {
    let dir = TempDir::new("mixed");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let expected = "two things\n[image image/png, 8 bytes, not shown]\n[resource link] x.txt <file:///tmp/x.txt>";
    assert_eq!(
        call(&m, "mcp_fake_mixed", json!({})),
        ToolOutput::ok(expected)
    );
    assert_eq!(
        call(&m, "mcp_fake_mixed", json!({"fail": true})),
        ToolOutput::error(expected)
    );
}

#[test]
fn large_results_are_truncated_with_a_marker() {
    let dir = TempDir::new("big");
    let mut o = fake("fake", "", &dir);
    o.max_result_bytes = 1000;
    let m = start_ready(vec![o]);
    let out = call(&m, "mcp_fake_big", json!({"bytes": 50_000}));
    assert!(!out.is_error);
    assert_eq!(
        out.content,
        format!(
            "{}\n[truncated: showing the first 1000 of 50000 bytes]",
            "y".repeat(1000)
        )
    );
}

#[test]
fn server_requests_we_do_not_support_get_method_not_found_and_ping_is_answered() {
    let dir = TempDir::new("ask");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let out = call(&m, "mcp_fake_ask_client", json!({}));
    // The server got an answer to each request, so the call finished.
    let got: Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(
        got,
        json!({"r1": -32601, "2": -32601, "3": -32601, "p": {}}),
        "{out:?}"
    );
    assert_eq!(status(&m, "fake").restarts, 0);
}

#[test]
fn list_changed_refreshes_the_offered_tools_without_a_restart() {
    let dir = TempDir::new("changed");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let before = m.generation();
    assert!(!m.tools().iter().any(|t| t.spec().name == "mcp_fake_extra"));
    assert_eq!(call(&m, "mcp_fake_add_tool", json!({})).content, "added");
    wait_for("a new generation", Duration::from_secs(10), || {
        (m.generation() != before).then_some(())
    });
    assert_eq!(
        call(&m, "mcp_fake_extra", json!({})),
        ToolOutput::ok("extra here"),
        "the new tool is offered and reaches the server"
    );
    let s = status(&m, "fake");
    assert_eq!((s.list_refreshes, s.restarts), (1, 0));
    assert_eq!(s.tools.len(), 11);
}

#[test]
fn calling_a_tool_the_server_does_not_know_is_a_clean_error() {
    let dir = TempDir::new("unknown");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    assert_eq!(
        m.call("fake", "nope", json!({})),
        Err(McpError::Rpc {
            code: -32602,
            message: "Unknown tool: nope".into()
        })
    );
    assert!(matches!(
        m.call("other", "echo", json!({})),
        Err(McpError::UnknownServer(_))
    ));
    assert_eq!(
        call(&m, "mcp_fake_echo", json!(["not", "an", "object"])),
        ToolOutput::error("arguments must be a JSON object")
    );
}

#[test]
fn a_server_without_the_tools_capability_is_ready_with_no_tools() {
    let dir = TempDir::new("notools");
    let m = start_ready(vec![fake("fake", "no_tools_cap", &dir)]);
    assert!(m.tools().is_empty());
    assert!(!logged(&dir).iter().any(|m| m["method"] == "tools/list"));
}

#[test]
fn the_plain_launcher_passes_only_path_home_lang_and_the_configured_env() {
    let dir = TempDir::new("env");
    let mut o = fake("fake", "", &dir);
    if let picoclaw_mcp::Transport::Stdio { env, .. } = &mut o.transport {
        env.push(("TOKEN_FOR_SERVER".into(), "s3cret".into()));
    }
    let m = start_ready(vec![o]);
    let out = call(&m, "mcp_fake_env", json!({}));
    let env: serde_json::Map<String, Value> = serde_json::from_str(&out.content).unwrap();
    let mut keys: BTreeSet<String> = env.keys().cloned().collect();
    // CPython sets LC_CTYPE itself when the locale is C (PEP 538).
    keys.remove("LC_CTYPE");
    let mut expected: BTreeSet<String> = ["FAKE_LOG", "FAKE_STATE", "TOKEN_FOR_SERVER"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for k in PASSED_ENV {
        if std::env::var_os(k).is_some() {
            expected.insert(k.to_string());
        }
    }
    assert_eq!(keys, expected);
    assert_eq!(env["TOKEN_FOR_SERVER"], "s3cret");
    // Cargo gives the test process plenty of variables; none leaked.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
}

#[test]
fn disabled_servers_are_listed_but_never_started() {
    let dir = TempDir::new("disabled");
    let mut o = fake("off", "", &dir);
    o.enabled = false;
    let m = start_ready(vec![o, fake("on", "", &TempDir::new("enabled"))]);
    let s = status(&m, "off");
    assert_eq!(s.state, ServerState::Disabled);
    assert!(logged(&dir).is_empty());
    assert!(m
        .tools()
        .iter()
        .all(|t| t.spec().name.starts_with("mcp_on_")));
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    let dir = TempDir::new("opts");
    let launcher = Arc::new(PlainLauncher);
    let twice = McpManager::start(
        vec![fake("a", "", &dir), fake("a", "", &dir)],
        launcher.clone(),
    );
    assert!(matches!(twice, Err(McpError::Options(m)) if m.contains("twice")));
    let bad = McpManager::start(vec![fake("has space", "", &dir)], launcher.clone());
    assert!(matches!(bad, Err(McpError::Options(_))));
    let url = McpManager::start(vec![ServerOptions::http("h", "ftp://x")], launcher);
    assert!(matches!(url, Err(McpError::Options(_))));
    assert!(logged(&dir).is_empty());
}

#[test]
fn shutdown_closes_stdin_and_the_server_process_is_gone() {
    let dir = TempDir::new("shutdown");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let pid = status(&m, "fake").pid.unwrap();
    assert!(process_alive(pid));
    m.shutdown();
    assert!(!process_alive(pid), "server {pid} still running");
    assert_eq!(status(&m, "fake").state, ServerState::Stopped);
    let out = call(&m, "mcp_fake_echo", json!({"text": "x"}));
    assert!(
        out.is_error && out.content.contains("unavailable"),
        "{out:?}"
    );
}
