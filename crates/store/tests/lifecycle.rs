#![allow(clippy::unwrap_used)]

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use picoclaw_store::{FileState, Store, StoreOptions};

fn event_on(channel: &str, id: &str) -> Inbound {
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

fn event(id: &str) -> Inbound {
    event_on("telegram", id)
}

#[test]
fn a_deleted_database_is_noticed_and_restored_without_losing_rows() {
    let dir = std::env::temp_dir().join(format!("picoclaw-deleted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state");
    let mut s = Store::open(&state, &StoreOptions::default()).unwrap();
    s.ingest("telegram", &[event("1")], Some("2")).unwrap();
    assert_eq!(s.file_state(), FileState::Same);

    // Someone removes the whole state directory under the running daemon.
    std::fs::remove_dir_all(&state).unwrap();
    assert_eq!(s.file_state(), FileState::Missing);
    // Writes still go to the (unlinked) open file...
    s.ingest("telegram", &[event("2")], Some("3")).unwrap();
    // ...and are written back to the path.
    s.restore_file().unwrap();
    drop(s);
    let s = Store::open(&state, &StoreOptions::default()).unwrap();
    assert_eq!(
        s.pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.cursor("telegram").unwrap().as_deref(), Some("3"));
    assert_eq!(s.file_state(), FileState::Same);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_replaced_database_is_reported_and_never_overwritten() {
    let dir = std::env::temp_dir().join(format!("picoclaw-replaced-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = Store::open(&dir, &StoreOptions::default()).unwrap();
    let path = s.path().to_path_buf();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's file").unwrap();
    assert_eq!(s.file_state(), FileState::Replaced);
    assert!(s.restore_file().is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn leftovers_of_other_channels_do_not_crowd_out_running_ones() {
    let mut s = Store::open_in_memory().unwrap();
    let stale: Vec<Inbound> = (0..40).map(|i| event_on("cli", &i.to_string())).collect();
    s.ingest("cli", &stale, None).unwrap();
    s.ingest("telegram", &[event_on("telegram", "7")], Some("8"))
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
