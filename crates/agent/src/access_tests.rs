use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use picoclaw_store::Store;

use super::*;

fn msg(channel: &str, chat: ChatKind, sender: &str, username: Option<&str>) -> Inbound {
    Inbound {
        channel: channel.into(),
        event_id: "1".into(),
        chat_id: "c".into(),
        chat_kind: chat,
        sender: Sender {
            id: sender.into(),
            username: username.map(str::to_owned),
            display: "X".into(),
        },
        message_id: None,
        kind: InboundKind::Text("hi".into()),
    }
}

fn telegram(allow_from: &[&str], owners: &[&str], dm: DmPolicy) -> (String, ChannelAccess) {
    (
        String::from("telegram"),
        ChannelAccess {
            dm_policy: dm,
            allow_from: allow_from.iter().map(|s| s.to_string()).collect(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            everyone_owns: false,
        },
    )
}

fn policy(rules: Vec<ToolRule>) -> Access {
    Access::new(
        vec![telegram(&["42", "@Alice"], &["1"], DmPolicy::Pairing)],
        rules,
        DEFAULT_CONFIRM_TIMEOUT,
    )
}

const TOOLS: &[&str] = &[
    "exec",
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "web_fetch",
    "memory_save",
    "mcp_git_status",
    "schedule",
];

fn offered(a: &Access, m: &Inbound) -> Vec<&'static str> {
    let g = a.grant(m);
    TOOLS.iter().copied().filter(|t| g.offers(t)).collect()
}

#[test]
fn tools_belong_to_groups_by_name() {
    for (tool, group) in [
        ("read_file", Some("fs")),
        ("edit_file", Some("fs")),
        ("exec", Some("exec")),
        ("web_search", Some("web")),
        ("memory_forget", Some("memory")),
        ("schedule", Some("schedule")),
        ("mcp_git_log", Some("mcp")),
        ("spawn", Some("spawn")),
        ("webhook", None),
        ("execute", None),
    ] {
        assert_eq!(group_of(tool), group, "{tool}");
    }
    // What the defaults hold back is named by groups and tools that exist.
    assert!(RESTRICTED
        .iter()
        .all(|r| GROUPS.contains(r) || group_of(r).is_some()));
}

#[test]
fn an_owner_in_a_direct_chat_gets_every_tool_and_everyone_else_the_restricted_profile() {
    let a = policy(Vec::new());
    assert_eq!(
        offered(&a, &msg("telegram", ChatKind::Direct, "1", None)),
        TOOLS
    );
    let restricted = [
        "read_file",
        "list_dir",
        "web_fetch",
        "memory_save",
        "schedule",
    ];
    // A member in a direct chat, the owner in a group, a member in a group.
    for m in [
        msg("telegram", ChatKind::Direct, "42", None),
        msg("telegram", ChatKind::Group, "1", None),
        msg("telegram", ChatKind::Group, "42", None),
    ] {
        assert_eq!(offered(&a, &m), restricted, "{m:?}");
    }
}

#[test]
fn rules_allow_and_deny_by_tool_or_group_for_their_channel_chat_and_users_and_deny_wins() {
    let a = policy(vec![
        ToolRule {
            chat: Some(ChatKind::Group),
            allow: vec!["exec".into(), "fs".into()],
            deny: vec!["web".into(), "write_file".into()],
            ..ToolRule::default()
        },
        ToolRule {
            channel: Some("telegram".into()),
            users: vec!["42".into()],
            deny: vec!["memory".into()],
            confirm: vec!["exec".into()],
            ..ToolRule::default()
        },
        ToolRule {
            channel: Some("discord".into()),
            deny: vec!["read_file".into()],
            ..ToolRule::default()
        },
    ]);
    let group_owner = msg("telegram", ChatKind::Group, "1", None);
    assert_eq!(
        offered(&a, &group_owner),
        [
            "exec",
            "read_file",
            "edit_file",
            "list_dir",
            "memory_save",
            "schedule"
        ]
    );
    let group_member = msg("telegram", ChatKind::Group, "42", None);
    assert_eq!(
        offered(&a, &group_member),
        ["exec", "read_file", "edit_file", "list_dir", "schedule"]
    );
    assert!(a.grant(&group_member).confirms("exec"));
    assert!(!a.grant(&group_owner).confirms("exec"));
    // The group rule does not reach direct chats.
    assert_eq!(
        offered(&a, &msg("telegram", ChatKind::Direct, "42", None)),
        ["read_file", "list_dir", "web_fetch", "schedule"]
    );
}

#[test]
fn owners_and_allow_from_come_from_the_config_and_paired_people_from_the_store() {
    let a = policy(Vec::new());
    let store = Store::open_in_memory().unwrap();
    let standing = |m: &Inbound| a.standing(&store, m).unwrap();
    assert_eq!(
        standing(&msg("telegram", ChatKind::Direct, "1", None)),
        Standing::Owner
    );
    assert_eq!(
        standing(&msg("telegram", ChatKind::Direct, "42", None)),
        Standing::Member
    );
    assert_eq!(
        standing(&msg("telegram", ChatKind::Group, "7", Some("alice"))),
        Standing::Member,
        "@usernames match in any case"
    );
    assert_eq!(
        standing(&msg("telegram", ChatKind::Direct, "7", Some("mallory"))),
        Standing::Stranger
    );
    assert_eq!(
        standing(&msg("discord", ChatKind::Direct, "1", None)),
        Standing::Stranger,
        "a channel without a policy lets nobody in"
    );
    assert_eq!(
        Access::unrestricted()
            .standing(&store, &msg("x", ChatKind::Group, "7", None))
            .unwrap(),
        Standing::Owner
    );
}

#[test]
fn screening_keeps_members_and_a_strangers_direct_message_only_where_it_gets_a_code() {
    let store = Store::open_in_memory().unwrap();
    let items = || {
        vec![
            msg("telegram", ChatKind::Direct, "42", None),
            msg("telegram", ChatKind::Direct, "7", None),
            msg("telegram", ChatKind::Group, "7", None),
        ]
    };
    let senders = |a: &Access| -> Vec<(String, ChatKind)> {
        a.screen(&store, items())
            .unwrap()
            .into_iter()
            .map(|m| (m.sender.id, m.chat_kind))
            .collect()
    };
    let pairing = policy(Vec::new());
    assert_eq!(
        senders(&pairing),
        [
            ("42".to_string(), ChatKind::Direct),
            ("7".to_string(), ChatKind::Direct)
        ]
    );
    let allowlist = Access::new(
        vec![telegram(&["42"], &[], DmPolicy::Allowlist)],
        Vec::new(),
        DEFAULT_CONFIRM_TIMEOUT,
    );
    assert_eq!(senders(&allowlist), [("42".to_string(), ChatKind::Direct)]);
    let open = Access::new(
        vec![telegram(&["*"], &[], DmPolicy::Open)],
        Vec::new(),
        DEFAULT_CONFIRM_TIMEOUT,
    );
    assert_eq!(senders(&open).len(), 3);
}

#[test]
fn the_heartbeat_is_an_owner_and_a_job_stands_as_the_person_who_set_it_without_pairing() {
    let a = policy(Vec::new());
    let store = Store::open_in_memory().unwrap();
    let scheduled = |sender: &str| Inbound {
        kind: InboundKind::Scheduled(Box::new(picoclaw_core::ScheduledTurn {
            prompt: "check".into(),
            quiet: None,
        })),
        ..msg("telegram", ChatKind::Direct, sender, None)
    };
    let heartbeat = scheduled(HEARTBEAT_SENDER);
    assert_eq!(a.standing(&store, &heartbeat).unwrap(), Standing::Owner);
    assert!(offered(&a, &heartbeat).contains(&"edit_file"));
    // A person called "heartbeat" writing is no heartbeat.
    let typed = msg("telegram", ChatKind::Direct, HEARTBEAT_SENDER, None);
    assert_eq!(a.standing(&store, &typed).unwrap(), Standing::Stranger);
    assert!(!offered(&a, &typed).contains(&"exec"));

    let member_job = scheduled("42");
    assert_eq!(a.standing(&store, &member_job).unwrap(), Standing::Member);
    assert!(!offered(&a, &member_job).contains(&"exec"));
    let stranger_job = scheduled("7");
    assert_eq!(
        a.standing(&store, &stranger_job).unwrap(),
        Standing::Stranger
    );
    assert!(!a.pairs(&stranger_job), "nobody is there to read a code");
    assert!(a.pairs(&msg("telegram", ChatKind::Direct, "7", None)));
    let photo = Inbound {
        kind: InboundKind::Media {
            text: String::new(),
            files: Vec::new(),
        },
        ..msg("telegram", ChatKind::Direct, "7", None)
    };
    assert!(a.pairs(&photo), "a stranger's photo gets a code too");
}

#[test]
fn doctor_sees_exec_in_groups_only_where_a_rule_allows_it_there() {
    assert!(!policy(Vec::new()).offered_in_some_group("exec"));
    assert!(policy(Vec::new()).offered_in_some_group("read_file"));
    let direct_only = ToolRule {
        chat: Some(ChatKind::Direct),
        allow: vec!["exec".into()],
        ..ToolRule::default()
    };
    assert!(!policy(vec![direct_only]).offered_in_some_group("exec"));
    let groups = ToolRule {
        channel: Some("telegram".into()),
        chat: Some(ChatKind::Group),
        allow: vec!["exec".into()],
        ..ToolRule::default()
    };
    assert!(policy(vec![groups.clone()]).offered_in_some_group("exec"));
    let deny_all = ToolRule {
        deny: vec!["exec".into()],
        ..ToolRule::default()
    };
    assert!(!policy(vec![groups, deny_all]).offered_in_some_group("exec"));
}
