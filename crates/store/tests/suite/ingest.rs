use picoclaw_core::{ChatKind, FileRef, InboundKind, MediaFile, MediaKind};
use picoclaw_store::{InboundRow, InboundStatus, Store, StoreOptions};

use super::{text, TempDir};

#[test]
fn redelivered_events_are_skipped_and_the_cursor_is_stored_with_them() {
    let tmp = TempDir::new("dedup");
    let mut store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    assert_eq!(store.cursor("telegram").unwrap(), None);

    let batch_a = [text("3", "c1", "one"), text("4", "c1", "two")];
    let ids = store.ingest("telegram", &batch_a, Some("5")).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("5"));
    drop(store);

    // A crash after the commit but before the next poll: the server
    // redelivers batch A (plus one new event) to a fresh process.
    let mut store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    let again = store.ingest("telegram", &batch_a, Some("5")).unwrap();
    assert_eq!(again, Vec::<i64>::new());
    let batch_b = [text("4", "c1", "two"), text("5", "c1", "three")];
    let new = store.ingest("telegram", &batch_b, Some("6")).unwrap();
    assert_eq!(new.len(), 1);
    assert!(new[0] > ids[1]);
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("6"));

    let stored: Vec<_> = store
        .pending_inbound_for(&["telegram", "discord"], 10)
        .unwrap()
        .into_iter()
        .map(|r| (r.inbound.event_id, r.inbound.kind))
        .collect();
    assert_eq!(
        stored,
        [
            ("3".to_string(), InboundKind::Text("one".into())),
            ("4".to_string(), InboundKind::Text("two".into())),
            ("5".to_string(), InboundKind::Text("three".into())),
        ]
    );
}

#[test]
fn the_same_event_id_on_another_channel_is_a_different_event() {
    let mut store = Store::open_in_memory().unwrap();
    let a = store
        .ingest("telegram", &[text("1", "c", "x")], None)
        .unwrap();
    let b = store
        .ingest("discord", &[text("1", "c", "x")], None)
        .unwrap();
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(store.cursor("telegram").unwrap(), None);
    assert_eq!(
        store
            .pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap()[1]
            .inbound
            .channel,
        "discord"
    );
}

#[test]
fn an_empty_poll_only_advances_the_cursor() {
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(
        store.ingest("telegram", &[], Some("9")).unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("9"));
    assert_eq!(
        store.ingest("telegram", &[], None).unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("9"));
}

#[test]
fn stored_events_round_trip_every_field() {
    let mut store = Store::open_in_memory().unwrap();
    let mut group = text("7", "-100", "ignored");
    group.chat_kind = ChatKind::Group;
    group.sender.username = None;
    group.message_id = None;
    group.kind = InboundKind::Unsupported("voice".into());
    let direct = text("8", "c", "hello");
    let ids = store
        .ingest("telegram", &[group.clone(), direct.clone()], None)
        .unwrap();

    assert_eq!(
        store
            .pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap(),
        [
            InboundRow {
                id: ids[0],
                inbound: group,
                status: InboundStatus::Pending
            },
            InboundRow {
                id: ids[1],
                inbound: direct,
                status: InboundStatus::Pending
            },
        ]
    );
}

#[test]
fn pending_inbound_lists_open_events_oldest_first_and_follows_status_changes() {
    let mut store = Store::open_in_memory().unwrap();
    let items: Vec<_> = (1..=5).map(|i| text(&i.to_string(), "c", "m")).collect();
    let ids = store.ingest("telegram", &items, Some("6")).unwrap();
    let open = |s: &Store, n| -> Vec<(i64, InboundStatus)> {
        s.pending_inbound_for(&["telegram", "discord"], n)
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.status))
            .collect()
    };
    assert_eq!(
        open(&store, 2),
        [
            (ids[0], InboundStatus::Pending),
            (ids[1], InboundStatus::Pending)
        ]
    );

    store
        .set_inbound_status(ids[0], InboundStatus::Working, None)
        .unwrap();
    store
        .set_inbound_status(ids[1], InboundStatus::Answered, None)
        .unwrap();
    store
        .set_inbound_status(ids[2], InboundStatus::Failed, Some("provider refused"))
        .unwrap();
    store
        .set_inbound_status(ids[3], InboundStatus::Ignored, None)
        .unwrap();
    assert_eq!(
        open(&store, 10),
        [
            (ids[0], InboundStatus::Working),
            (ids[4], InboundStatus::Pending)
        ]
    );
    assert_eq!(
        store.inbound_status("telegram", "3").unwrap(),
        Some(InboundStatus::Failed)
    );
    assert_eq!(store.inbound_status("telegram", "9999").unwrap(), None);
    assert_eq!(store.inbound_status("discord", "3").unwrap(), None);

    // A failed event can be retried by putting it back to pending.
    store
        .set_inbound_status(ids[2], InboundStatus::Pending, None)
        .unwrap();
    assert_eq!(
        open(&store, 10).iter().map(|r| r.0).collect::<Vec<_>>(),
        [ids[0], ids[2], ids[4]]
    );
    assert_eq!(store.health().unwrap().pending_inbound, 3);
}

#[test]
fn media_events_round_trip_with_every_file_reference() {
    let mut store = Store::open_in_memory().unwrap();
    let mut photo = text("9", "c", "");
    photo.kind = InboundKind::Media {
        text: String::from("what is this?"),
        files: vec![MediaFile {
            kind: MediaKind::Photo,
            name: None,
            mime: Some(String::from("image/jpeg")),
            duration_secs: None,
            sizes: vec![
                FileRef {
                    id: String::from("small"),
                    bytes: Some(1200),
                    width: Some(90),
                    height: Some(60),
                },
                FileRef {
                    id: String::from("big"),
                    bytes: None,
                    width: Some(1280),
                    height: Some(853),
                },
            ],
        }],
    };
    let mut voice = text("10", "c", "");
    voice.kind = InboundKind::Media {
        text: String::new(),
        files: vec![MediaFile {
            kind: MediaKind::Voice,
            name: Some(String::from("../../etc/passwd")),
            mime: Some(String::from("audio/ogg")),
            duration_secs: Some(3),
            sizes: vec![FileRef {
                id: String::from("v"),
                bytes: Some(5000),
                width: None,
                height: None,
            }],
        }],
    };
    let ids = store
        .ingest("telegram", &[photo.clone(), voice.clone()], None)
        .unwrap();
    let rows = store.pending_inbound_for(&["telegram"], 10).unwrap();
    assert_eq!(
        rows,
        [
            InboundRow {
                id: ids[0],
                inbound: photo,
                status: InboundStatus::Pending
            },
            InboundRow {
                id: ids[1],
                inbound: voice,
                status: InboundStatus::Pending
            },
        ]
    );
}
