use picoclaw_core::Usage;
use picoclaw_store::{ChatUsage, InboundStatus, Store};

use super::text;

fn used(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
    }
}

#[test]
fn usage_is_summed_per_chat_with_group_members_folded_into_their_chat() {
    let mut store = Store::open_in_memory().unwrap();
    let dm = store.active_session("telegram:42").unwrap();
    let ada = store.active_session("telegram:-100:42").unwrap();
    let bob = store.active_session("telegram:-100:7").unwrap();
    store.record_usage(dm, "p", used(10, 5)).unwrap();
    store.record_usage(dm, "p", used(1, 1)).unwrap();
    store.record_usage(ada, "p", used(100, 0)).unwrap();
    store.record_usage(bob, "p", used(50, 50)).unwrap();
    assert_eq!(
        store.usage_by_chat(0, None).unwrap(),
        [
            ChatUsage {
                chat: "telegram:-100".into(),
                calls: 2,
                input_tokens: 150,
                output_tokens: 50
            },
            ChatUsage {
                chat: "telegram:42".into(),
                calls: 2,
                input_tokens: 11,
                output_tokens: 6
            },
        ]
    );
    let dm_only = store.usage_by_chat(0, Some("telegram:42")).unwrap();
    assert_eq!(dm_only.len(), 1);
    assert_eq!(dm_only[0].tokens(), 17);
    assert_eq!(store.tokens_since(0).unwrap(), 217);
    let future = i64::MAX / 2;
    assert!(store.usage_by_chat(future, None).unwrap().is_empty());
    assert_eq!(store.tokens_since(future).unwrap(), 0);
}

#[test]
fn a_deferred_event_waits_until_its_time_and_the_chat_is_known_to_be_told() {
    let mut store = Store::open_in_memory().unwrap();
    let ids = store
        .ingest(
            "telegram",
            &[text("1", "c1", "a"), text("2", "c1", "b")],
            Some("3"),
        )
        .unwrap();
    let later = i64::MAX / 2;
    store.defer_inbound(ids[0], later).unwrap();
    let pending: Vec<i64> = store
        .pending_inbound_for(&["telegram"], 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(pending, [ids[1]]);
    assert!(store.chat_deferred_until("telegram", "c1", later).unwrap());
    assert!(!store.chat_deferred_until("telegram", "c2", later).unwrap());
    // Its time has come: pending again, still in order.
    store.defer_inbound(ids[0], 0).unwrap();
    let pending: Vec<(i64, InboundStatus)> = store
        .pending_inbound_for(&["telegram"], 10)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(
        pending,
        [
            (ids[0], InboundStatus::Pending),
            (ids[1], InboundStatus::Pending)
        ]
    );
}
