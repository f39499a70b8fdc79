use super::*;
use serde_json::json;

fn rules() -> Rules {
    Rules {
        bot: BotUser {
            id: 999,
            username: String::from("PicoBot"),
        },
        group_trigger: Some(String::from("!bot")),
    }
}

fn private(from: i64, username: &str, text: &str) -> Value {
    json!({"update_id": 10, "message": {
        "message_id": 5, "date": 0,
        "chat": {"id": from, "type": "private"},
        "from": {"id": from, "is_bot": false, "first_name": "Al", "username": username},
        "text": text}})
}

fn group(from: i64, text: &str) -> Value {
    json!({"update_id": 11, "message": {
        "message_id": 6, "date": 0,
        "chat": {"id": -100123, "type": "supergroup", "title": "G"},
        "from": {"id": from, "is_bot": false, "first_name": "Bo"},
        "text": text}})
}

fn text_of(v: Verdict) -> String {
    match v {
        Verdict::Accept(Inbound {
            kind: InboundKind::Text(t),
            ..
        }) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn allowed_direct_message_becomes_an_inbound() {
    let v = classify(&private(42, "al", "hello"), 10, &rules());
    assert_eq!(
        v,
        Verdict::Accept(Inbound {
            channel: String::from("telegram"),
            event_id: String::from("10"),
            chat_id: String::from("42"),
            chat_kind: ChatKind::Direct,
            sender: Sender {
                id: String::from("42"),
                username: Some(String::from("al")),
                display: String::from("Al"),
            },
            message_id: Some(String::from("5")),
            kind: InboundKind::Text(String::from("hello")),
        })
    );
}

#[test]
fn anyone_s_message_is_accepted_here_for_the_runtime_to_judge() {
    // Who may talk is decided with the store (allow_from, pairing).
    for (v, who) in [
        (classify(&private(8, "mallory", "hi"), 1, &rules()), "8"),
        (classify(&group(77, "@PicoBot hi"), 1, &rules()), "77"),
    ] {
        match v {
            Verdict::Accept(m) => assert_eq!(m.sender.id, who),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_button_press_carries_its_data_presser_and_chat_and_must_be_answered() {
    let press = json!({"update_id": 12, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "chat_instance": "-77",
        "from": {"id": 42, "is_bot": false, "first_name": "Al", "username": "al"},
        "message": {"message_id": 9, "date": 0, "chat": {"id": -100123, "type": "supergroup"},
                    "from": {"id": 999, "is_bot": true, "first_name": "Pico"}, "text": "May I?"},
        "data": "confirm:3:yes"}});
    assert_eq!(
        classify(&press, 12, &rules()),
        Verdict::Pressed {
            item: Some(Inbound {
                channel: String::from("telegram"),
                event_id: String::from("12"),
                chat_id: String::from("-100123"),
                chat_kind: ChatKind::Group,
                sender: Sender {
                    id: String::from("42"),
                    username: Some(String::from("al")),
                    display: String::from("Al"),
                },
                message_id: Some(String::from("9")),
                kind: InboundKind::Button(String::from("confirm:3:yes")),
            }),
            query_id: String::from("4382bfdwdsb323b2d9"),
        }
    );
    // An inline-mode press has no message: nothing for the agent, but the
    // query is still answered.
    let inline = json!({"update_id": 13, "callback_query": {
        "id": "q2", "chat_instance": "1", "inline_message_id": "AAA",
        "from": {"id": 42, "is_bot": false, "first_name": "Al"}, "data": "x"}});
    assert_eq!(
        classify(&inline, 13, &rules()),
        Verdict::Pressed {
            item: None,
            query_id: String::from("q2")
        }
    );
}

#[test]
fn group_message_needs_a_mention_reply_or_trigger() {
    let r = rules();
    assert_eq!(
        classify(&group(42, "just chatting"), 1, &r),
        Verdict::Ignore("group message not addressed to the bot")
    );
    assert_eq!(
        text_of(classify(&group(42, "@picobot, what time is it?"), 1, &r)),
        "what time is it?"
    );
    assert_eq!(
        text_of(classify(&group(42, "hey @PicoBot what"), 1, &r)),
        "hey what"
    );
    assert_eq!(
        text_of(classify(&group(42, "!bot status please"), 1, &r)),
        "status please"
    );
    assert_eq!(
        classify(&group(42, "!botany is fun"), 1, &r),
        Verdict::Ignore("group message not addressed to the bot")
    );
    assert_eq!(
        classify(&group(42, "mail me@picobot.org"), 1, &r),
        Verdict::Ignore("group message not addressed to the bot")
    );
    let mut reply = group(42, "and then?");
    reply["message"]["reply_to_message"] =
        json!({"message_id": 3, "from": {"id": 999, "is_bot": true}});
    assert_eq!(text_of(classify(&reply, 1, &r)), "and then?");
    let mut reply_other = group(42, "and then?");
    reply_other["message"]["reply_to_message"] = json!({"message_id": 3, "from": {"id": 5}});
    assert!(matches!(classify(&reply_other, 1, &r), Verdict::Ignore(_)));
}

#[test]
fn commands_addressed_to_this_bot_are_normalised_and_others_ignored() {
    let r = rules();
    assert_eq!(text_of(classify(&group(42, "/new@PicoBot"), 1, &r)), "/new");
    assert_eq!(
        text_of(classify(&private(42, "a", "/help@picobot me"), 1, &r)),
        "/help me"
    );
    assert_eq!(
        text_of(classify(&private(42, "a", "/status"), 1, &r)),
        "/status"
    );
    assert_eq!(
        classify(&group(42, "/new@OtherBot"), 1, &r),
        Verdict::Ignore("command for another bot")
    );
}

#[test]
fn a_bare_mention_reaches_the_agent_unchanged() {
    assert_eq!(
        text_of(classify(&group(42, "@PicoBot"), 1, &rules())),
        "@PicoBot"
    );
}

#[test]
fn photos_voice_and_documents_become_media_with_their_cleaned_caption() {
    let mut photo = group(42, "");
    let m = photo["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert(
        "photo".into(),
        json!([{"file_id": "x", "file_unique_id": "ux", "width": 90, "height": 60}]),
    );
    m.insert("caption".into(), json!("@PicoBot what is this?"));
    match classify(&photo, 1, &rules()) {
        Verdict::Accept(i) => assert_eq!(
            i.kind,
            InboundKind::Media {
                text: String::from("what is this?"),
                files: vec![picoclaw_core::MediaFile {
                    kind: picoclaw_core::MediaKind::Photo,
                    name: None,
                    mime: Some(String::from("image/jpeg")),
                    duration_secs: None,
                    sizes: vec![picoclaw_core::FileRef {
                        id: String::from("x"),
                        bytes: None,
                        width: Some(90),
                        height: Some(60),
                    }],
                }],
            }
        ),
        other => panic!("{other:?}"),
    }
    let mut doc = private(42, "a", "");
    let m = doc["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert(
        "document".into(),
        json!({"file_id": "d", "file_unique_id": "ud", "file_name": "../../etc/passwd"}),
    );
    match classify(&doc, 1, &rules()) {
        Verdict::Accept(Inbound {
            kind: InboundKind::Media { text, files },
            ..
        }) => {
            assert_eq!(text, "");
            assert_eq!(files[0].name.as_deref(), Some("../../etc/passwd"));
        }
        other => panic!("{other:?}"),
    }
    let mut broken = private(42, "a", "");
    let m = broken["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert("voice".into(), json!({"duration": 1}));
    assert_eq!(
        classify(&broken, 1, &rules()),
        Verdict::Malformed("media without a file_id")
    );
}

#[test]
fn other_media_stays_unsupported_and_only_when_it_would_be_accepted() {
    let mut sticker = private(42, "a", "");
    let m = sticker["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert("sticker".into(), json!({"file_id": "s"}));
    match classify(&sticker, 1, &rules()) {
        Verdict::Accept(i) => assert_eq!(i.kind, InboundKind::Unsupported(String::from("sticker"))),
        other => panic!("{other:?}"),
    }
    let mut voice = group(42, "");
    let m = voice["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert("voice".into(), json!({"file_id": "v", "duration": 1}));
    assert!(matches!(classify(&voice, 1, &rules()), Verdict::Ignore(_)));
    let mut gif = private(42, "a", "");
    let m = gif["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert("animation".into(), json!({"file_id": "g"}));
    m.insert("document".into(), json!({"file_id": "g"}));
    match classify(&gif, 1, &rules()) {
        Verdict::Accept(i) => {
            assert_eq!(i.kind, InboundKind::Unsupported(String::from("animation")))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bots_channel_posts_and_service_messages_are_ignored() {
    let mut bot = private(42, "a", "hi");
    bot["message"]["from"]["is_bot"] = json!(true);
    assert_eq!(
        classify(&bot, 1, &rules()),
        Verdict::Ignore("sent by a bot")
    );
    let post = json!({"update_id": 1, "channel_post": {"message_id": 1, "chat": {"id": -1, "type": "channel"}}});
    assert!(matches!(classify(&post, 1, &rules()), Verdict::Ignore(_)));
    let mut joined = group(42, "");
    joined["message"].as_object_mut().unwrap().remove("text");
    joined["message"]["new_chat_members"] = json!([{"id": 1}]);
    assert_eq!(
        classify(&joined, 1, &rules()),
        Verdict::Ignore("service or empty message")
    );
}

#[test]
fn unexpected_shapes_are_malformed_not_panics() {
    for bad in [
        json!({"update_id": 1, "message": "text"}),
        json!({"update_id": 1, "message": {"chat": {"id": "x", "type": "private"}}}),
        json!({"update_id": 1, "message": {"chat": {"id": 1, "type": "private"}, "from": {"id": null}}}),
        json!({"update_id": 1, "message": {"chat": {"id": 1, "type": "private"}, "from": {"id": 42}, "text": "x"}}),
    ] {
        assert!(
            matches!(classify(&bad, 1, &rules()), Verdict::Malformed(_)),
            "{bad}"
        );
    }
}
