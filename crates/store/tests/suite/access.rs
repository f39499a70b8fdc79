use picoclaw_core::{Button, Inbound, Sender};
use picoclaw_store::{
    Approval, ConfirmAsk, ConfirmStatus, InboundStatus, PairingAsk, PairingIssue, Store,
};

use super::text;

const HOUR: i64 = 3600;

fn stranger(id: &str) -> Inbound {
    let mut m = text(&format!("e-{id}"), id, "hello");
    m.sender = Sender {
        id: id.into(),
        username: Some(format!("u{id}")),
        display: format!("User {id}"),
    };
    m
}

/// Stores `m` and answers it as a pairing request at `now`.
fn request(store: &mut Store, m: &Inbound, code: &str, now: i64) -> (PairingIssue, Vec<String>) {
    let ids = store
        .ingest("telegram", std::slice::from_ref(m), None)
        .unwrap();
    let id = ids.first().copied().unwrap_or_else(|| {
        store
            .pending_inbound_for(&["telegram"], 100)
            .unwrap()
            .into_iter()
            .find(|r| r.inbound.event_id == m.event_id)
            .unwrap()
            .id
    });
    request_for(store, m, id, code, now)
}

fn request_for(
    store: &mut Store,
    m: &Inbound,
    id: i64,
    code: &str,
    now: i64,
) -> (PairingIssue, Vec<String>) {
    let ask = PairingAsk {
        channel: "telegram",
        sender: &m.sender,
        inbound_id: id,
        chat_id: &m.chat_id,
        reply_to: m.message_id.as_deref(),
        fresh_code: code,
        now,
        ttl_secs: HOUR,
        max_pending: 3,
        remind_after_secs: 600,
    };
    let issue = store
        .pairing_request(&ask, |i| match i {
            PairingIssue::Quiet => None,
            other => Some(vec![format!("{other:?}")]),
        })
        .unwrap();
    let sent = store
        .pending_outbox("telegram", 100)
        .unwrap()
        .into_iter()
        .filter(|r| r.inbound_id == Some(id))
        .map(|r| r.body)
        .collect();
    (issue, sent)
}

#[test]
fn a_stranger_gets_one_code_and_its_reply_settles_the_event_in_the_same_transaction() {
    let mut store = Store::open_in_memory().unwrap();
    let m = stranger("7");
    let (issue, sent) = request(&mut store, &m, "ABCD2345", 1000);
    assert_eq!(
        issue,
        PairingIssue::Issued {
            code: "ABCD2345".into(),
            expires_at: 1000 + HOUR
        }
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(
        store.inbound_status("telegram", "e-7").unwrap(),
        Some(InboundStatus::Answered)
    );
    let codes = store.pairing_codes(1000).unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(
        (codes[0].sender_id.as_str(), codes[0].name.as_str()),
        ("7", "User 7")
    );
    assert!(!store.is_paired("telegram", "7").unwrap());
}

#[test]
fn asking_again_soon_is_quiet_later_is_a_reminder_and_after_expiry_a_new_code() {
    let mut store = Store::open_in_memory().unwrap();
    let mut m = stranger("7");
    request(&mut store, &m, "FIRST234", 1000);
    m.event_id = "e-7b".into();
    let (issue, sent) = request(&mut store, &m, "OTHER234", 1060);
    assert_eq!(issue, PairingIssue::Quiet);
    assert!(sent.is_empty());
    assert_eq!(
        store.inbound_status("telegram", "e-7b").unwrap(),
        Some(InboundStatus::Ignored)
    );
    m.event_id = "e-7c".into();
    let (issue, _) = request(&mut store, &m, "OTHER234", 1000 + 601);
    assert_eq!(
        issue,
        PairingIssue::Again {
            code: "FIRST234".into(),
            expires_at: 1000 + HOUR
        }
    );
    m.event_id = "e-7d".into();
    let (issue, _) = request(&mut store, &m, "NEWER234", 1000 + HOUR);
    assert_eq!(
        issue,
        PairingIssue::Issued {
            code: "NEWER234".into(),
            expires_at: 1000 + 2 * HOUR
        }
    );
}

#[test]
fn the_redo_of_the_event_a_code_was_issued_for_tells_the_same_code() {
    let mut store = Store::open_in_memory().unwrap();
    let m = stranger("7");
    let id = store
        .ingest("telegram", std::slice::from_ref(&m), None)
        .unwrap()[0];
    request_for(&mut store, &m, id, "FIRST234", 1000);
    // As if the process died after the commit and the worker saw the row
    // again (it cannot, it is settled; this pins that the answer would be
    // the same code, not a new one and not silence).
    let ask = PairingAsk {
        channel: "telegram",
        sender: &m.sender,
        inbound_id: id,
        chat_id: "7",
        reply_to: None,
        fresh_code: "OTHER234",
        now: 1001,
        ttl_secs: HOUR,
        max_pending: 3,
        remind_after_secs: 600,
    };
    let issue = store.pairing_request(&ask, |_| None).unwrap();
    assert_eq!(
        issue,
        PairingIssue::Again {
            code: "FIRST234".into(),
            expires_at: 1000 + HOUR
        }
    );
}

#[test]
fn a_fourth_pending_code_is_refused_until_one_expires_or_is_approved() {
    let mut store = Store::open_in_memory().unwrap();
    for (i, code) in ["AAAA2222", "BBBB2222", "CCCC2222"].iter().enumerate() {
        let (issue, _) = request(
            &mut store,
            &stranger(&format!("{i}")),
            code,
            1000 + i as i64,
        );
        assert!(matches!(issue, PairingIssue::Issued { .. }), "{issue:?}");
    }
    let (issue, sent) = request(&mut store, &stranger("9"), "DDDD2222", 1010);
    assert_eq!(issue, PairingIssue::Full);
    assert_eq!(sent, ["Full"]);
    assert_eq!(store.pairing_codes(1010).unwrap().len(), 3);

    assert!(matches!(
        store
            .approve_pairing("telegram", "AAAA2222", 1011, "host")
            .unwrap(),
        Approval::Approved(_)
    ));
    let (issue, _) = request(&mut store, &stranger("10"), "EEEE2222", 1012);
    assert!(matches!(issue, PairingIssue::Issued { .. }), "{issue:?}");
    // The oldest of the rest expires: room again.
    let (issue, _) = request(&mut store, &stranger("11"), "FFFF2222", 1001 + HOUR);
    assert!(matches!(issue, PairingIssue::Issued { .. }), "{issue:?}");
}

#[test]
fn approving_pairs_the_sender_once_and_an_expired_or_unknown_code_is_refused() {
    let mut store = Store::open_in_memory().unwrap();
    request(&mut store, &stranger("7"), "ABCD2345", 1000);
    request(&mut store, &stranger("8"), "WXYZ2345", 1000);
    assert_eq!(
        store
            .approve_pairing("discord", "ABCD2345", 1001, "host")
            .unwrap(),
        Approval::Unknown,
        "codes are per channel"
    );
    let Approval::Approved(p) = store
        .approve_pairing("telegram", "ABCD2345", 1001, "telegram:1")
        .unwrap()
    else {
        panic!("not approved")
    };
    assert_eq!(
        (
            p.sender_id.as_str(),
            p.username.as_deref(),
            p.approved_by.as_str()
        ),
        ("7", Some("u7"), "telegram:1")
    );
    assert!(store.is_paired("telegram", "7").unwrap());
    assert!(!store.is_paired("discord", "7").unwrap());
    assert_eq!(
        store
            .approve_pairing("telegram", "ABCD2345", 1002, "host")
            .unwrap(),
        Approval::Unknown,
        "a code works once"
    );
    assert_eq!(
        store
            .approve_pairing("telegram", "WXYZ2345", 1000 + HOUR, "host")
            .unwrap(),
        Approval::Expired {
            sender_id: "8".into(),
            expired_at: 1000 + HOUR
        }
    );
    assert!(!store.is_paired("telegram", "8").unwrap());
    assert_eq!(store.paired().unwrap(), [p]);

    assert!(store.revoke_pairing("telegram", "7").unwrap());
    assert!(!store.is_paired("telegram", "7").unwrap());
    assert!(!store.revoke_pairing("telegram", "7").unwrap());
}

#[test]
fn a_question_is_queued_with_buttons_under_its_last_chunk_and_its_answer_recorded() {
    let mut store = Store::open_in_memory().unwrap();
    let chunks = vec![String::from("Run this?"), String::from("ls -la")];
    let ask = ConfirmAsk {
        inbound_id: 5,
        call_id: "call-1",
        tool: "exec",
        channel: "telegram",
        chat_id: "7",
        reply_to: Some("m5"),
        chunks: &chunks,
    };
    let id = store
        .ask_confirmation(&ask, |id| {
            vec![Button {
                label: "Yes".into(),
                data: format!("confirm:{id}:yes"),
            }]
        })
        .unwrap();
    let rows = store.pending_outbox("telegram", 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].buttons.is_empty());
    assert_eq!(
        rows[1].buttons,
        [Button {
            label: "Yes".into(),
            data: format!("confirm:{id}:yes")
        }]
    );
    assert_eq!(rows[1].inbound_id, None);
    assert_eq!(
        store.confirmation(5, "call-1").unwrap(),
        Some((id, ConfirmStatus::Waiting))
    );
    store
        .decide_confirmation(id, ConfirmStatus::Approved)
        .unwrap();
    assert_eq!(
        store.confirmation(5, "call-1").unwrap(),
        Some((id, ConfirmStatus::Approved))
    );
    assert_eq!(store.confirmation(5, "call-2").unwrap(), None);
    // One question per call.
    assert!(store.ask_confirmation(&ask, |_| Vec::new()).is_err());
}
