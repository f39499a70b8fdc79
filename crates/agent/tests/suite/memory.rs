use std::time::Duration;

use picoclaw_agent::memory_tools;
use picoclaw_core::Role;

use super::fakes::{Harness, Step};

fn call(name: &str, args: &str) -> Step {
    Step::Call(name.to_string(), args.to_string())
}

/// The tool result the model saw in request `n`.
fn result(h: &Harness, n: usize) -> String {
    h.llm.requests()[n]
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn memories_are_saved_found_and_forgotten_per_person_with_a_shared_scope() {
    let h = Harness::new("memory");
    // Ada saves a private and a shared memory; Bob searches; Ada searches
    // and forgets; Bob tries to forget Ada's.
    h.llm
        .push(call(
            "memory_save",
            r#"{"text":"Ada's locker code is 4711","tags":"locker"}"#,
        ))
        .push(Step::Text("saved".into()))
        .push(call(
            "memory_save",
            r#"{"text":"The office wifi password is on the fridge","shared":true}"#,
        ))
        .push(Step::Text("saved shared".into()))
        .push(call("memory_search", r#"{"query":"locker wifi"}"#))
        .push(Step::Text("bob searched".into()))
        .push(call("memory_forget", r#"{"id":1}"#))
        .push(Step::Text("bob tried".into()))
        .push(call("memory_search", r#"{"query":"LOCKER code?"}"#))
        .push(Step::Text("ada searched".into()))
        .push(call("memory_forget", r#"{"id":1}"#))
        .push(Step::Text("ada forgot".into()));
    let tools = || memory_tools(&h.db);
    for (i, (chat, text)) in [
        ("ada", "remember my locker code 4711"),
        ("ada", "remember the wifi note for everyone"),
        ("bob", "what do you know about lockers and wifi?"),
        ("bob", "forget memory 1"),
        ("ada", "what is my locker code?"),
        ("ada", "forget it"),
    ]
    .into_iter()
    .enumerate()
    {
        h.chan.push(chat, text);
        h.run_until(tools(), Duration::from_secs(1), |h| {
            h.chan.sent().len() == i + 1
        })
        .await;
    }
    assert_eq!(result(&h, 1), "Saved memory #1.");
    assert_eq!(result(&h, 3), "Saved memory #2.");
    let bob_sees = result(&h, 5);
    assert!(bob_sees.contains("#2 (shared)"), "{bob_sees}");
    assert!(
        !bob_sees.contains("4711"),
        "Bob sees Ada's private memory: {bob_sees}"
    );
    assert_eq!(result(&h, 7), "There is no memory #1 of yours to forget.");
    let ada_sees = result(&h, 9);
    assert!(ada_sees.starts_with("#1 [locker]: "), "{ada_sees}");
    assert!(ada_sees.contains("4711"), "{ada_sees}");
    assert_eq!(result(&h, 11), "Forgot memory #1.");
    let left =
        h.db.blocking(|s| s.memory_search(&["fake:ada", "shared"], "locker wifi", 10))
            .unwrap();
    assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
}
