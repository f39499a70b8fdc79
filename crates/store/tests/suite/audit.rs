use picoclaw_store::{AuditFilter, AuditStatus, Store, ToolAudit};

fn call(at: i64, chat: &str, tool: &str, status: AuditStatus) -> ToolAudit {
    ToolAudit {
        at,
        channel: "telegram".into(),
        chat_id: chat.into(),
        user_id: "42".into(),
        inbound_id: None,
        tool: tool.into(),
        arguments: r#"{"command":"ls"}"#.into(),
        status,
        exit_code: (tool == "exec").then_some(2),
        duration_ms: 17,
        sandbox: (tool == "exec").then(|| "landlock(abi 7, full)+seccomp".to_string()),
        detail: (status != AuditStatus::Ok).then(|| "why".to_string()),
    }
}

fn all() -> AuditFilter<'static> {
    AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    }
}

#[test]
fn audited_calls_read_back_whole_with_every_status() {
    let store = Store::open_in_memory().unwrap();
    let rows = [
        call(100, "42", "exec", AuditStatus::Error),
        call(101, "42", "read_file", AuditStatus::Ok),
        call(102, "-100", "exec", AuditStatus::Denied),
    ];
    for r in &rows {
        store.record_tool_call(r).unwrap();
    }
    assert_eq!(store.tool_calls(&all()).unwrap(), rows);
}

#[test]
fn audit_rows_filter_by_time_and_chat_and_keep_the_newest_under_a_limit() {
    let store = Store::open_in_memory().unwrap();
    for (at, chat) in [(10, "1"), (20, "2"), (30, "1"), (40, "1")] {
        store
            .record_tool_call(&call(at, chat, "exec", AuditStatus::Ok))
            .unwrap();
    }
    let at = |f: AuditFilter<'_>| -> Vec<i64> {
        store.tool_calls(&f).unwrap().iter().map(|r| r.at).collect()
    };
    assert_eq!(at(AuditFilter { since: 20, ..all() }), [20, 30, 40]);
    assert_eq!(
        at(AuditFilter {
            chat_id: Some("1"),
            ..all()
        }),
        [10, 30, 40]
    );
    assert_eq!(
        at(AuditFilter {
            channel: Some("discord"),
            ..all()
        }),
        Vec::<i64>::new()
    );
    assert_eq!(at(AuditFilter { limit: 2, ..all() }), [30, 40]);
}

#[test]
fn pruning_deletes_only_rows_older_than_the_cutoff() {
    let store = Store::open_in_memory().unwrap();
    for at in [10, 20, 30] {
        store
            .record_tool_call(&call(at, "1", "exec", AuditStatus::Ok))
            .unwrap();
    }
    assert_eq!(store.prune_tool_calls(25).unwrap(), 2);
    assert_eq!(store.prune_tool_calls(25).unwrap(), 0);
    let left: Vec<i64> = store
        .tool_calls(&all())
        .unwrap()
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(left, [30]);
}
