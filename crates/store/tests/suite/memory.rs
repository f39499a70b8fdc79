use picoclaw_store::{Store, SHARED_SCOPE};

const ADA: &str = "telegram:1";
const BOB: &str = "telegram:2";

fn ids(hits: &[picoclaw_store::MemoryHit]) -> Vec<i64> {
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn memories_are_found_by_words_only_within_the_given_scopes() {
    let store = Store::open_in_memory().unwrap();
    let tea = store
        .memory_save(ADA, "Ada prefers green tea", "drinks")
        .unwrap();
    let bob = store.memory_save(BOB, "Bob prefers tea too", "").unwrap();
    let wifi = store
        .memory_save(SHARED_SCOPE, "The house wifi is called Tea Room", "")
        .unwrap();

    assert_eq!(ids(&store.memory_search(&[ADA], "tea", 10).unwrap()), [tea]);
    let mut both = ids(&store
        .memory_search(&[ADA, SHARED_SCOPE], "tea", 10)
        .unwrap());
    both.sort();
    assert_eq!(both, [tea, wifi]);
    assert_eq!(ids(&store.memory_search(&[BOB], "tea", 10).unwrap()), [bob]);
    assert!(store.memory_search(&[], "tea", 10).unwrap().is_empty());
}

#[test]
fn a_query_is_words_never_fts_syntax_and_matches_prefixes_and_tags() {
    let store = Store::open_in_memory().unwrap();
    let m = store
        .memory_save(ADA, "Dentist appointment on Friday", "health calendar")
        .unwrap();
    for q in [
        "what about the DENTIST? \"NEAR*",
        "appoint",
        "calendar",
        "-- health )(",
    ] {
        assert_eq!(
            ids(&store.memory_search(&[ADA], q, 10).unwrap()),
            [m],
            "query {q:?}"
        );
    }
    assert!(store.memory_search(&[ADA], "  -- ", 10).unwrap().is_empty());
    let hit = &store.memory_search(&[ADA], "dentist", 1).unwrap()[0];
    assert_eq!(hit.snippet, "[Dentist] appointment on Friday");
    assert_eq!(hit.tags, "health calendar");
}

#[test]
fn the_better_match_ranks_first_and_the_limit_holds() {
    let store = Store::open_in_memory().unwrap();
    let weak = store
        .memory_save(
            ADA,
            "Went to the market, bought bread, milk and one garden tool",
            "",
        )
        .unwrap();
    let strong = store
        .memory_save(ADA, "garden: water the garden plants", "garden")
        .unwrap();
    let hits = store.memory_search(&[ADA], "garden", 10).unwrap();
    assert_eq!(ids(&hits), [strong, weak]);
    assert_eq!(
        ids(&store.memory_search(&[ADA], "garden", 1).unwrap()),
        [strong]
    );
}

#[test]
fn forget_deletes_only_within_the_given_scopes() {
    let store = Store::open_in_memory().unwrap();
    let ada = store.memory_save(ADA, "secret plan", "").unwrap();
    assert!(!store.memory_forget(&[BOB, SHARED_SCOPE], ada).unwrap());
    assert_eq!(store.memory_count(ADA).unwrap(), 1);
    assert!(store.memory_forget(&[ADA], ada).unwrap());
    assert!(!store.memory_forget(&[ADA], ada).unwrap());
    assert!(store.memory_search(&[ADA], "plan", 10).unwrap().is_empty());
}
