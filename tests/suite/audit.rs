//! The tool-call audit log and redaction, through the real binary: what a
//! tool prints never reaches the model or the logs, and every call is a row
//! `picoclaw audit` shows.

use crate::util::*;

/// A key in a workspace file (a vendor key shape) and a private key.
const FILE_KEY: &str = "sk-proj-AbCdEf0123456789xyzXYZ";
const PEM_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";

fn audit_json(p: &Picoclaw, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit", "--json"];
    args.extend(extra);
    let out = p.run_cli(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_key_printed_by_a_tool_never_reaches_the_model_or_the_logs() {
    let mut p = Picoclaw::new("redact");
    std::fs::create_dir_all(p.workspace()).unwrap();
    std::fs::write(
        p.workspace().join("leak.env"),
        format!(
            "OPENAI_API_KEY={FILE_KEY}\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
        ),
    )
    .unwrap();
    p.start();
    // The exec assembles the configured provider key inside the sandbox, so
    // it appears only in the command's output, never in the arguments.
    p.say(r#"look [[call read_file {"path":"leak.env"}]] [[call exec {"command":"echo sk-e2e-$(echo primary)-key"}]]"#);
    let replies = p.replies(1);
    assert!(replies[0].starts_with("done: "), "{replies:?}");
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results[0].contains("OPENAI_API_KEY=***")
            && results[0].contains("-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----"),
        "{results:?}"
    );
    assert!(results[1].contains("\n***\n"), "{results:?}");
    let bodies: String = p
        .llm
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    let logs = p.stderr();
    for secret in [FILE_KEY, PEM_BODY, LLM_KEY] {
        assert!(!bodies.contains(secret), "{secret} reached the model");
        assert!(!logs.contains(secret), "{secret} reached the logs:\n{logs}");
        assert!(!replies[0].contains(secret), "{secret} reached the chat");
    }
}

#[test]
fn every_tool_call_is_audited_with_status_exit_code_and_sandbox_label() {
    let mut p = Picoclaw::new("audit-rows");
    p.start();
    p.say(r#"go [[call exec {"command":"echo hi"}]] [[call exec {"command":"echo GITHUB_TOKEN=ghp_0123456789abcdefghijKLMN; exit 3"}]] [[call read_file {"path":"missing.txt"}]]"#);
    p.replies(1);
    let rows = audit_json(&p, &[]);
    let summary: Vec<(String, String, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["exit_code"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("exec".into(), "ok".into(), Some(0)),
            ("exec".into(), "error".into(), Some(3)),
            ("read_file".into(), "error".into(), None),
        ],
        "{rows:#?}"
    );
    for r in &rows {
        assert_eq!(r["channel"], "telegram");
        assert_eq!(r["chat_id"], USER.to_string());
        assert_eq!(r["user_id"], USER.to_string());
    }
    let label = rows[0]["sandbox"].as_str().unwrap();
    assert!(label.contains("seccomp"), "{label}");
    assert_eq!(rows[2]["sandbox"], serde_json::Value::Null);
    // The arguments are kept, redacted.
    assert_eq!(
        rows[1]["arguments"],
        r#"{"command":"echo GITHUB_TOKEN=***; exit 3"}"#
    );
    assert!(
        rows[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("exit 3 after "),
        "{rows:#?}"
    );

    // The table form, filtered by chat: a chat with no calls shows none.
    let text = stdout_of(&p.run_cli(&["audit", "--chat", &format!("telegram:{USER}")]));
    assert!(text.contains("read_file"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" exec ") && l.contains(" error ") && l.contains("     3 ")),
        "{text}"
    );
    let none = stdout_of(&p.run_cli(&["audit", "--chat", "telegram:999"]));
    assert!(none.ends_with("none\n"), "{none}");
}

#[test]
fn audit_rows_past_the_retention_are_pruned_by_the_daemon() {
    let mut p = Picoclaw::with_config("audit-prune", "[audit]\nretention_days = 2\n");
    p.start();
    assert!(p.wait_log("running", WAIT), "{}", p.stderr());
    p.signal(libc::SIGTERM);
    p.wait_exit(WAIT).expect("stops");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let db = rusqlite::Connection::open(p.state_dir().join("picoclaw.db")).unwrap();
    for age_days in [3, 1] {
        db.execute(
            "INSERT INTO tool_audit (at, channel, chat_id, user_id, tool, arguments, status, duration_ms)
             VALUES (?1, 'telegram', '1', '1', 'exec', '{}', 'ok', 1)",
            [now - age_days * 86_400],
        )
        .unwrap();
    }
    drop(db);
    p.start();
    assert!(
        p.wait_log("audit: removed 1 tool-call row(s) older than 2 days", WAIT),
        "{}",
        p.stderr()
    );
    let left = audit_json(&p, &["--since", "30d"]);
    assert_eq!(left.len(), 1, "{left:?}");
}
