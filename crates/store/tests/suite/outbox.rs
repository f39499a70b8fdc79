use picoclaw_store::{InboundStatus, OutboxRow, Store};

use super::text;

fn chunks(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn enqueue_reply_queues_chunks_in_order_and_marks_the_inbound_answered() {
    let mut store = Store::open_in_memory().unwrap();
    let id = store
        .ingest("telegram", &[text("1", "c1", "hi")], None)
        .unwrap()[0];
    store
        .set_inbound_status(id, InboundStatus::Working, None)
        .unwrap();

    store
        .enqueue_reply(Some(id), "telegram", "c1", Some("m1"), &chunks(&["a", "b"]))
        .unwrap();

    let rows = store.pending_outbox("telegram", 10).unwrap();
    let expect = |row: &OutboxRow, seq: i64, body: &str| OutboxRow {
        id: row.id,
        inbound_id: Some(id),
        channel: "telegram".into(),
        chat_id: "c1".into(),
        reply_to: Some("m1".into()),
        seq,
        body: body.into(),
        attempts: 0,
        file: None,
        buttons: Vec::new(),
    };
    assert_eq!(rows, [expect(&rows[0], 0, "a"), expect(&rows[1], 1, "b")]);
    assert!(rows[0].id < rows[1].id);
    assert_eq!(
        store.inbound_status("telegram", "1").unwrap(),
        Some(InboundStatus::Answered)
    );
    assert_eq!(
        store
            .pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap(),
        []
    );
}

#[test]
fn each_channel_reads_only_its_own_pending_chunks() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .enqueue_reply(None, "telegram", "c1", None, &chunks(&["t1"]))
        .unwrap();
    store
        .enqueue_reply(None, "discord", "c2", None, &chunks(&["d1", "d2"]))
        .unwrap();
    let bodies = |ch: &str| -> Vec<String> {
        store
            .pending_outbox(ch, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.body)
            .collect()
    };
    assert_eq!(bodies("telegram"), ["t1"]);
    assert_eq!(bodies("discord"), ["d1", "d2"]);
    assert_eq!(bodies("cli"), Vec::<String>::new());
}

#[test]
fn enqueue_reply_twice_for_the_same_inbound_adds_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let id = store
        .ingest("telegram", &[text("1", "c1", "hi")], None)
        .unwrap()[0];
    store
        .enqueue_reply(Some(id), "telegram", "c1", None, &chunks(&["a", "b"]))
        .unwrap();
    let first = store.pending_outbox("telegram", 10).unwrap();
    store.mark_sent(first[0].id).unwrap();

    // A resumed turn produces a different rendering; the queued one wins.
    store
        .enqueue_reply(Some(id), "telegram", "c1", None, &chunks(&["x", "y", "z"]))
        .unwrap();
    assert_eq!(store.pending_outbox("telegram", 10).unwrap(), first[1..]);
}

#[test]
fn proactive_messages_without_inbound_are_each_queued() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .enqueue_reply(None, "telegram", "c1", None, &chunks(&["tick"]))
        .unwrap();
    store
        .enqueue_reply(None, "telegram", "c1", None, &chunks(&["tick"]))
        .unwrap();
    let rows = store.pending_outbox("telegram", 10).unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.inbound_id, r.seq, r.body.as_str()))
            .collect::<Vec<_>>(),
        [(None, 0, "tick"), (None, 0, "tick")]
    );
}

#[test]
fn sent_and_failed_chunks_leave_the_queue_and_attempts_are_counted() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .enqueue_reply(None, "telegram", "c1", None, &chunks(&["a", "b", "c"]))
        .unwrap();
    let rows = store.pending_outbox("telegram", 10).unwrap();
    assert_eq!(store.health().unwrap().pending_outbox, 3);

    store.bump_attempt(rows[2].id).unwrap();
    store.bump_attempt(rows[2].id).unwrap();
    store.mark_sent(rows[0].id).unwrap();
    store
        .mark_send_failed(rows[1].id, "chat not found")
        .unwrap();

    let left = store.pending_outbox("telegram", 10).unwrap();
    assert_eq!(
        left,
        [OutboxRow {
            attempts: 2,
            ..rows[2].clone()
        }]
    );
    assert_eq!(store.pending_outbox("telegram", 0).unwrap(), []);
    assert_eq!(store.health().unwrap().pending_outbox, 1);
}

#[test]
fn a_tool_result_and_its_files_are_stored_together_and_do_not_count_as_the_reply() {
    let mut store = Store::open_in_memory().unwrap();
    let id = store
        .ingest("telegram", &[text("1", "c1", "send it")], None)
        .unwrap()[0];
    let session = store.active_session("telegram:c1").unwrap();
    let file = picoclaw_core::OutFile {
        path: String::from("out/report.pdf"),
        name: String::from("report.pdf"),
        photo: false,
    };
    let result = picoclaw_core::ChatMessage::tool_result("call-1", "queued report.pdf");
    store
        .append_result_with_files(
            session,
            Some(id),
            &result,
            "telegram",
            "c1",
            std::slice::from_ref(&file),
        )
        .unwrap();
    assert_eq!(store.turn_messages(id).unwrap(), [result]);
    // The reply still goes in: the file row is not this event's reply.
    store
        .enqueue_reply(Some(id), "telegram", "c1", Some("m1"), &chunks(&["here"]))
        .unwrap();
    let rows = store.pending_outbox("telegram", 10).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (
            rows[0].inbound_id,
            rows[0].body.as_str(),
            rows[0].file.as_ref()
        ),
        (None, "report.pdf", Some(&file))
    );
    assert_eq!(
        (
            rows[1].inbound_id,
            rows[1].body.as_str(),
            rows[1].file.as_ref()
        ),
        (Some(id), "here", None)
    );
}
