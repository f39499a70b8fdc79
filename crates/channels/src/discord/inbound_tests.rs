use super::*;
use serde_json::json;

const BOT: &str = "900";
const ALICE: &str = "101";
const GUILD: &str = "700";
const CHAN: &str = "800";

fn rules() -> Rules {
    Rules {
        bot_id: String::from(BOT),
        allow_guilds: Vec::new(),
        allow_channels: Vec::new(),
        mention_only: true,
    }
}

fn dm(content: &str) -> Value {
    json!({
        "id": "5001", "channel_id": "600", "type": 0, "content": content,
        "author": {"id": ALICE, "username": "alice", "global_name": "Alice A"},
        "mentions": [], "attachments": [],
    })
}

fn guild(content: &str, mentions: &[&str]) -> Value {
    let mentions: Vec<Value> = mentions.iter().map(|id| json!({"id": id})).collect();
    json!({
        "id": "5002", "channel_id": CHAN, "guild_id": GUILD, "type": 0, "content": content,
        "author": {"id": ALICE, "username": "alice"},
        "member": {"nick": "Ali"},
        "mentions": mentions, "attachments": [],
    })
}

fn accept(v: Verdict) -> Inbound {
    match v {
        Verdict::Accept(i) => i,
        other => panic!("expected Accept, got {other:?}"),
    }
}

fn text(v: Verdict) -> String {
    match accept(v).kind {
        InboundKind::Text(t) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dm_from_an_allowed_user_is_accepted_whole() {
    let t = Threads::default();
    assert_eq!(
        accept(classify(&dm("hello"), &rules(), &t)),
        Inbound {
            channel: String::from("discord"),
            event_id: String::from("5001"),
            chat_id: String::from("600"),
            chat_kind: ChatKind::Direct,
            sender: Sender {
                id: String::from(ALICE),
                username: Some(String::from("alice")),
                display: String::from("Alice A"),
            },
            message_id: Some(String::from("5001")),
            kind: InboundKind::Text(String::from("hello")),
        }
    );
}

#[test]
fn a_dm_from_anyone_is_accepted_here_for_the_runtime_to_judge() {
    // Who may talk is decided with the store (allow_from, pairing).
    let mut m = dm("hi");
    m["author"]["id"] = json!("999");
    assert_eq!(
        accept(classify(&m, &rules(), &Threads::default()))
            .sender
            .id,
        "999"
    );
}

#[test]
fn guild_messages_need_a_mention_or_a_reply_to_the_bot() {
    let t = Threads::default();
    assert_eq!(
        classify(&guild("just chatting", &[]), &rules(), &t),
        Verdict::Ignore("guild message not addressed to the bot")
    );
    let m = guild(&format!("<@{BOT}> what time is it?"), &[BOT]);
    let got = accept(classify(&m, &rules(), &t));
    assert_eq!(got.chat_kind, ChatKind::Group);
    assert_eq!(got.sender.display, "Ali");
    assert_eq!(
        got.kind,
        InboundKind::Text(String::from("what time is it?"))
    );

    let mut reply = guild("and tomorrow?", &[]);
    reply["type"] = json!(19);
    reply["referenced_message"] = json!({"id": "4000", "author": {"id": BOT, "bot": true}});
    assert_eq!(text(classify(&reply, &rules(), &t)), "and tomorrow?");

    let open = Rules {
        mention_only: false,
        ..rules()
    };
    assert_eq!(
        text(classify(&guild("just chatting", &[]), &open, &t)),
        "just chatting"
    );
}

#[test]
fn mentions_are_removed_wherever_they_are_and_indentation_is_kept() {
    let t = Threads::default();
    let cases = [
        (format!("<@{BOT}>, hi"), "hi"),
        (format!("hey <@!{BOT}> look"), "hey look"),
        (format!("thanks <@{BOT}>"), "thanks"),
        (
            format!("<@{BOT}> fix:\n```\n    indented\n```"),
            "fix:\n```\n    indented\n```",
        ),
    ];
    for (content, want) in cases {
        assert_eq!(text(classify(&guild(&content, &[]), &rules(), &t)), want);
    }
    // A bare mention says nothing to answer.
    assert_eq!(
        classify(&guild(&format!("<@{BOT}>"), &[BOT]), &rules(), &t),
        Verdict::Ignore("empty message")
    );
}

#[test]
fn bots_webhooks_the_bot_itself_and_system_messages_are_ignored() {
    let t = Threads::default();
    let mut own = dm("echo");
    own["author"]["id"] = json!(BOT);
    assert_eq!(
        classify(&own, &rules(), &t),
        Verdict::Ignore("the bot's own message")
    );
    let mut bot = dm("beep");
    bot["author"]["bot"] = json!(true);
    assert_eq!(
        classify(&bot, &rules(), &t),
        Verdict::Ignore("sent by a bot or webhook")
    );
    let mut hook = dm("hook");
    hook["webhook_id"] = json!("1");
    assert_eq!(
        classify(&hook, &rules(), &t),
        Verdict::Ignore("sent by a bot or webhook")
    );
    let mut pin = dm("");
    pin["type"] = json!(6);
    assert_eq!(
        classify(&pin, &rules(), &t),
        Verdict::Ignore("system message")
    );
}

#[test]
fn allow_guilds_and_allow_channels_scope_guild_messages_and_threads_follow_their_parent() {
    let mut t = Threads::default();
    let scoped = Rules {
        allow_guilds: vec![String::from(GUILD)],
        allow_channels: vec![String::from(CHAN)],
        ..rules()
    };
    let mention = format!("<@{BOT}> hi");
    assert!(matches!(
        classify(&guild(&mention, &[]), &scoped, &t),
        Verdict::Accept(_)
    ));
    let mut other_guild = guild(&mention, &[]);
    other_guild["guild_id"] = json!("701");
    assert_eq!(
        classify(&other_guild, &scoped, &t),
        Verdict::OutOfScope("guild not in channels.discord.allow_guilds")
    );
    let mut in_thread = guild(&mention, &[]);
    in_thread["channel_id"] = json!("850");
    assert_eq!(
        classify(&in_thread, &scoped, &t),
        Verdict::OutOfScope("channel not in channels.discord.allow_channels")
    );
    t.observe(
        "THREAD_CREATE",
        &json!({"id": "850", "type": 11, "parent_id": CHAN, "guild_id": GUILD}),
    );
    let got = accept(classify(&in_thread, &scoped, &t));
    // Answered in the thread, its own conversation.
    assert_eq!(got.chat_id, "850");
    t.observe("THREAD_DELETE", &json!({"id": "850", "type": 11}));
    assert!(matches!(
        classify(&in_thread, &scoped, &t),
        Verdict::OutOfScope(_)
    ));
    t.observe(
        "GUILD_CREATE",
        &json!({"id": GUILD, "threads": [{"id": "850", "type": 12, "parent_id": CHAN}]}),
    );
    assert!(matches!(
        classify(&in_thread, &scoped, &t),
        Verdict::Accept(_)
    ));
}

#[test]
fn attachments_become_media_and_stickers_stay_unsupported() {
    let t = Threads::default();
    let mut img = dm("look");
    img["attachments"] = json!([{"id": "1", "filename": "a.png", "content_type": "image/png",
        "size": 10, "url": "https://cdn.discordapp.com/attachments/9/1/a.png"}]);
    match accept(classify(&img, &rules(), &t)).kind {
        InboundKind::Media { text, files } => {
            assert_eq!(text, "look");
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].kind, picoclaw_core::MediaKind::Photo);
        }
        other => panic!("{other:?}"),
    }
    // Without a URL there is nothing to fetch.
    let mut broken = dm("look");
    broken["attachments"] = json!([{"id": "1", "filename": "a.png", "content_type": "image/png"}]);
    assert_eq!(
        accept(classify(&broken, &rules(), &t)).kind,
        InboundKind::Unsupported(String::from("image"))
    );
    let mut sticker = dm("");
    sticker["sticker_items"] = json!([{"id": "1", "name": "wave", "format_type": 1}]);
    assert_eq!(
        accept(classify(&sticker, &rules(), &t)).kind,
        InboundKind::Unsupported(String::from("sticker"))
    );
}

#[test]
fn malformed_messages_are_reported_not_accepted() {
    let t = Threads::default();
    assert_eq!(
        classify(&json!({"id": "1"}), &rules(), &t),
        Verdict::Malformed("message without id or channel_id")
    );
    assert_eq!(
        classify(&json!({"id": "1", "channel_id": "2"}), &rules(), &t),
        Verdict::Malformed("message without author")
    );
}
