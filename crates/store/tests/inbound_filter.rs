#![allow(clippy::unwrap_used)]

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use picoclaw_store::Store;

fn event(channel: &str, id: &str) -> Inbound {
    Inbound {
        channel: channel.into(),
        event_id: id.into(),
        chat_id: "1".into(),
        chat_kind: ChatKind::Direct,
        sender: Sender {
            id: "1".into(),
            username: None,
            display: "u".into(),
        },
        message_id: None,
        kind: InboundKind::Text("hi".into()),
    }
}

#[test]
fn leftovers_of_other_channels_do_not_crowd_out_running_ones() {
    let mut s = Store::open_in_memory().unwrap();
    let stale: Vec<Inbound> = (0..40).map(|i| event("cli", &i.to_string())).collect();
    s.ingest("cli", &stale, None).unwrap();
    s.ingest("telegram", &[event("telegram", "7")], Some("8"))
        .unwrap();
    let rows = s.pending_inbound_for(&["telegram"], 32).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].inbound.event_id, "7");
    assert_eq!(
        s.pending_inbound_for(&["cli", "telegram"], 100)
            .unwrap()
            .len(),
        41
    );
    assert!(s.pending_inbound_for(&[], 10).unwrap().is_empty());
}
