use std::time::Duration;

use picoclaw_core::Role;

use super::fakes::Harness;

#[tokio::test]
async fn two_chats_interleaved_keep_their_own_histories_and_replies() {
    let h = Harness::new("two-chats");
    h.chan.push("alice", "a1");
    h.chan.push("bob", "b1");
    h.chan.push("alice", "a2");
    h.chan.push("bob", "b2");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        h.chan.sent().len() == 4
    })
    .await;
    let sent = h.chan.sent();
    let to = |chat: &str| -> Vec<String> {
        sent.iter()
            .filter(|s| s.chat == chat)
            .map(|s| s.text.clone())
            .collect()
    };
    assert_eq!(to("alice"), ["echo: a1", "echo: a2"]);
    assert_eq!(to("bob"), ["echo: b1", "echo: b2"]);
    // Each reply quotes the message it answers.
    assert!(sent.iter().all(|s| s.reply_to.is_some()));
    for req in h.llm.requests() {
        let users: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .collect();
        let chat = users.last().unwrap().chars().next().unwrap();
        assert!(
            users.iter().all(|u| u.starts_with(chat)),
            "a request mixed chats: {users:?}"
        );
    }
    let last_alice = h
        .llm
        .requests()
        .into_iter()
        .find(|r| r.messages.last().unwrap().content == "a2")
        .unwrap();
    assert_eq!(last_alice.messages.len(), 3, "a1, its answer, a2");
}
