//! Who may talk and what each chat may do (issue 16), end to end: pairing
//! on the fake Telegram (codes, approval from the CLI and with /pair,
//! expiry, the fourth pending code), the tools a group chat is offered, and
//! the Yes/No buttons before a confirmed exec.

use std::time::Duration;

use picoclaw_testkit::fake_discord::FakeDiscord;

use crate::util::*;

const GROUP: i64 = -1_001_234_567;

/// The tool names offered in model request `n`.
fn offered(p: &Picoclaw, n: usize) -> Vec<String> {
    let reqs = p.llm.requests();
    assert!(reqs.len() > n, "{} requests\n{}", reqs.len(), p.stderr());
    reqs[n].body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What stranger `id` was sent last, waiting for it.
fn last_to(p: &Picoclaw, id: i64, count: usize) -> String {
    let seen = wait_until(WAIT, || {
        p.tg.sent().iter().filter(|m| m.chat_id == id).count() >= count
    });
    assert!(
        seen,
        "nothing sent to {id}: {:?}\n{}",
        p.visible(),
        p.stderr()
    );
    p.tg.sent()
        .into_iter()
        .filter(|m| m.chat_id == id)
        .nth(count - 1)
        .unwrap()
        .visible
}

/// The code in a pairing reply ("Your pairing code is ABCD2345 (valid…").
fn code_in(reply: &str) -> String {
    let code = reply
        .split("pairing code is ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|c| c.trim_matches(['*', '`']))
        .unwrap_or_else(|| panic!("no code in {reply:?}"));
    assert_eq!(code.len(), 8, "{reply}");
    code.to_string()
}

/// Runs `picoclaw pairing ARGS` against the fixture's config, with `env`.
fn pairing(p: &Picoclaw, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let config = p.config.display().to_string();
    let mut all = vec!["pairing"];
    all.extend(args);
    all.extend(["--config", config.as_str()]);
    run_env(&all, env)
}

#[test]
fn a_stranger_gets_a_code_an_owner_approves_it_on_the_host_and_then_they_are_answered() {
    let mut p = Picoclaw::new("pairing");
    p.start();
    let stranger = 666_777;
    p.tg.push_text(stranger, stranger, "mallory", "hello, who are you?");
    let reply = last_to(&p, stranger, 1);
    let code = code_in(&reply);
    assert!(
        reply.contains(&format!("picoclaw pairing approve telegram {code}")),
        "{reply}"
    );
    assert_eq!(p.llm.request_count(), 0, "no model call for a stranger");
    // Logged for the owner, without the message text.
    assert!(
        p.wait_log(&format!("pairing code {code} for user {stranger}"), WAIT),
        "{}",
        p.stderr()
    );
    assert!(!p.stderr().contains("who are you"));

    let list = pairing(&p, &["list"], &[]);
    assert!(list.status.success(), "{}", stderr_of(&list));
    let listed = stdout_of(&list);
    assert!(
        listed.contains(&code) && listed.contains("@mallory"),
        "{listed}"
    );

    let out = pairing(&p, &["approve", "telegram", &code.to_lowercase()], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains(&format!("Approved telegram user {stranger}")),
        "{}",
        stdout_of(&out)
    );

    p.tg.push_text(stranger, stranger, "mallory", "and now?");
    assert_eq!(last_to(&p, stranger, 2), "echo: and now?");
    assert_eq!(p.llm.request_count(), 1);
    // The code works once.
    let again = pairing(&p, &["approve", "telegram", &code], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr_of(&again).contains("no pending pairing code"),
        "{}",
        stderr_of(&again)
    );
    // Revoked, they are a stranger again and get a new code.
    let out = pairing(&p, &["revoke", "telegram", &stranger.to_string()], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    p.tg.push_text(stranger, stranger, "mallory", "still there?");
    let fresh = code_in(&last_to(&p, stranger, 3));
    assert_ne!(fresh, code);
    assert_eq!(p.llm.request_count(), 1);
}

#[test]
fn an_expired_code_is_refused_and_the_stranger_then_gets_a_new_one() {
    let mut p = Picoclaw::new("pairing-expired");
    p.start();
    let stranger = 5150;
    p.tg.push_text(stranger, stranger, "", "hi");
    let code = code_in(&last_to(&p, stranger, 1));
    // An hour and a second later (the test-only clock hook of debug
    // builds).
    let out = pairing(
        &p,
        &["approve", "telegram", &code],
        &[("PICOCLAW_TEST_CLOCK_SKEW_SECS", "3601")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout_of(&out));
    assert!(
        stderr_of(&out).contains(&format!(
            "pairing code {code} of telegram user {stranger} has expired"
        )),
        "{}",
        stderr_of(&out)
    );
    p.tg.push_text(stranger, stranger, "", "hi again");
    let fresh = code_in(&last_to(&p, stranger, 2));
    assert_ne!(fresh, code);
    let ok = pairing(&p, &["approve", "telegram", &fresh], &[]);
    assert!(ok.status.success(), "{}", stderr_of(&ok));
}

#[test]
fn a_fourth_stranger_is_told_to_come_back_later_while_three_codes_wait() {
    let mut p = Picoclaw::new("pairing-full");
    p.start();
    let strangers = [9001, 9002, 9003, 9004];
    for s in strangers {
        p.tg.push_text(s, s, "", "let me in");
    }
    let replies: Vec<String> = strangers.iter().map(|s| last_to(&p, *s, 1)).collect();
    for r in &replies[..3] {
        code_in(r);
    }
    assert!(
        replies[3].contains("too many people are already waiting"),
        "{:?}",
        replies[3]
    );
    assert!(p.wait_log("asked to pair, but 3 codes are already waiting", WAIT));
    let listed = stdout_of(&pairing(&p, &["list"], &[]));
    assert_eq!(listed.matches("telegram  ").count(), 3, "{listed}");
    assert_eq!(p.llm.request_count(), 0);
}

#[test]
fn an_owner_approves_a_code_with_pair_from_their_chat() {
    let mut p = Picoclaw::new("pairing-owner");
    p.start();
    let stranger = 31_337;
    p.tg.push_text(stranger, stranger, "eve", "hello");
    let code = code_in(&last_to(&p, stranger, 1));
    p.say(&format!("/pair {code}"));
    let r = p.replies(2);
    assert!(
        r[1].starts_with(&format!("Approved User{stranger} (user {stranger})")),
        "{r:?}"
    );
    p.tg.push_text(stranger, stranger, "eve", "thanks");
    assert_eq!(last_to(&p, stranger, 2), "echo: thanks");
}

#[test]
fn a_group_chat_is_not_offered_exec_and_a_call_made_anyway_is_refused() {
    let mut p = Picoclaw::new("group-tools");
    p.start();
    p.tg.push_text(
        GROUP,
        USER,
        "alice",
        r#"@picotest_bot run it [[call exec {"command":"touch from-group"}]]"#,
    );
    let r = p.replies(1);
    assert!(r[0].starts_with("done: "), "{r:?}\n{}", p.stderr());
    let tools = offered(&p, 0);
    assert!(!tools.contains(&"exec".to_string()), "{tools:?}");
    assert!(!tools.contains(&"write_file".to_string()), "{tools:?}");
    assert!(tools.contains(&"read_file".to_string()), "{tools:?}");
    assert_eq!(
        p.tool_messages(1),
        ["The tool 'exec' is not available in this chat."]
    );
    assert!(!p.workspace().join("from-group").exists());
    // The refusal is audited as denied, with the chat it came from.
    let out = p.run_cli(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let rows: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["tool"].as_str(),
            rows[0]["status"].as_str(),
            rows[0]["chat_id"].as_str()
        ),
        (
            Some("exec"),
            Some("denied"),
            Some(GROUP.to_string().as_str())
        ),
        "{rows:?}"
    );
    // The same owner in their private chat is offered exec.
    p.say("hello");
    p.replies(2);
    assert!(offered(&p, 2).contains(&"exec".to_string()));
}

/// A fixture whose exec calls need a yes, waiting `timeout_secs`.
fn confirming(tag: &str, timeout_secs: u64) -> Picoclaw {
    Picoclaw::with_config(
        tag,
        &format!("[tools]\nconfirm_timeout_secs = {timeout_secs}\n\n[[tools.policy]]\nconfirm = [\"exec\"]\n"),
    )
}

/// Asks for `touch confirmed` and waits for the question; returns its
/// message id.
fn ask(p: &Picoclaw) -> i64 {
    p.say(r#"please [[call exec {"command":"touch confirmed"}]]"#);
    let asked = wait_until(WAIT, || p.tg.sent().iter().any(|m| !m.buttons.is_empty()));
    assert!(asked, "no question: {:?}\n{}", p.visible(), p.stderr());
    let q =
        p.tg.sent()
            .into_iter()
            .find(|m| !m.buttons.is_empty())
            .unwrap();
    assert!(q.visible.contains("touch confirmed"), "{}", q.visible);
    assert_eq!(
        q.buttons
            .iter()
            .map(|(label, _)| label.as_str())
            .collect::<Vec<_>>(),
        ["Yes", "No"]
    );
    q.message_id
}

#[test]
fn a_confirmed_exec_runs_after_yes_is_tapped() {
    let mut p = confirming("confirm-yes", 60);
    p.start();
    let question = ask(&p);
    assert!(
        !p.workspace().join("confirmed").exists(),
        "ran before the yes"
    );
    let query = p.tg.press(USER, question, USER, "Yes");
    let done = wait_until(WAIT, || p.visible().iter().any(|t| t.starts_with("done: ")));
    assert!(done, "{:?}\n{}", p.visible(), p.stderr());
    assert!(p.workspace().join("confirmed").exists());
    assert_eq!(p.tg.answered_queries(), [query]);
    // The press was not a message: only the request reached the model.
    assert_eq!(p.inbound_rows().len(), 1, "{:?}", p.inbound_rows());
}

#[test]
fn a_confirmed_exec_is_refused_after_no_and_the_model_is_told() {
    let mut p = confirming("confirm-no", 60);
    p.start();
    let question = ask(&p);
    p.tg.press(USER, question, USER, "No");
    let done = wait_until(WAIT, || p.visible().iter().any(|t| t.starts_with("done: ")));
    assert!(done, "{:?}\n{}", p.visible(), p.stderr());
    assert!(!p.workspace().join("confirmed").exists());
    assert_eq!(
        p.tool_messages(1),
        ["The user declined this exec call; it was not run."]
    );
}

#[test]
fn a_confirmed_exec_is_refused_when_nobody_answers_in_time() {
    let mut p = confirming("confirm-timeout", 2);
    p.start();
    ask(&p);
    let done = wait_until(WAIT, || p.visible().iter().any(|t| t.starts_with("done: ")));
    assert!(done, "{:?}\n{}", p.visible(), p.stderr());
    assert!(!p.workspace().join("confirmed").exists());
    assert_eq!(
        p.tool_messages(1),
        ["The user did not confirm this exec call in time; it was not run."]
    );
    // A late tap changes nothing (and is still answered).
    let question =
        p.tg.sent()
            .into_iter()
            .find(|m| !m.buttons.is_empty())
            .unwrap();
    let late = p.tg.press(USER, question.message_id, USER, "Yes");
    let answered = wait_until(WAIT, || p.tg.answered_queries().contains(&late));
    assert!(answered, "{}", p.stderr());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!p.workspace().join("confirmed").exists());
}

#[test]
fn a_discord_stranger_gets_a_pairing_code_too() {
    const TOKEN: &str = "MTAxNjQ4ODk5.e2e-discord-token.never-logged";
    let fake = FakeDiscord::start(TOKEN);
    let mut p = Picoclaw::with_config(
        "dc-pairing",
        &format!(
            "[channels.discord]\ntoken = \"{TOKEN}\"\napi_base = \"{}\"\nallow_from = [\"2024\"]\n",
            fake.api_base()
        ),
    );
    p.start();
    assert!(fake.wait_for_ready(1, WAIT), "{}", p.stderr());
    fake.dm("4711", "hi bot");
    let sent = fake.wait_for_sent(1, WAIT);
    assert_eq!(sent.len(), 1, "{}", p.stderr());
    let code = code_in(&sent[0].content);
    assert!(
        sent[0]
            .content
            .contains(&format!("picoclaw pairing approve discord {code}")),
        "{}",
        sent[0].content
    );
    let out = pairing(&p, &["approve", "discord", &code], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    fake.dm("4711", "hi again");
    let sent = fake.wait_for_sent(2, WAIT);
    assert_eq!(sent[1].content, "echo: hi again");
}

#[test]
fn the_terminal_asks_for_a_typed_yes_before_a_confirmed_exec() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let p = confirming("confirm-terminal", 60);
    let mut child = Command::new(BIN)
        .args(["agent", "--config", p.config.to_str().unwrap()])
        .env_remove("PICOCLAW_LOG")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"please [[call exec {\"command\":\"touch confirmed\"}]]\nyes\nno exec this time\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("May I run `exec`?"), "{text}");
    assert!(text.contains("Reply **yes**"), "{text}");
    assert!(p.workspace().join("confirmed").exists(), "{text}");
    assert!(text.contains("echo: no exec this time"), "{text}");
    // "yes" answered the question; it was not a message to the model.
    let users: Vec<String> = p
        .llm
        .requests()
        .iter()
        .flat_map(|r| r.body["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert!(!users.iter().any(|u| u == "yes"), "{users:?}");
}

#[test]
fn on_discord_a_confirmed_exec_waits_for_a_typed_yes_in_the_dm() {
    const TOKEN: &str = "MTAxNjQ4ODk5.e2e-discord-token.never-logged";
    let fake = FakeDiscord::start(TOKEN);
    let mut p = Picoclaw::with_config(
        "dc-confirm",
        &format!(
            "[channels.discord]\ntoken = \"{TOKEN}\"\napi_base = \"{}\"\nallow_from = [\"2024\"]\n\
             owners = [\"2024\"]\n\n[tools]\nconfirm_timeout_secs = 60\n\n[[tools.policy]]\n\
             confirm = [\"exec\"]\n",
            fake.api_base()
        ),
    );
    p.start();
    assert!(fake.wait_for_ready(1, WAIT), "{}", p.stderr());
    fake.dm(
        "2024",
        r#"please [[call exec {"command":"touch confirmed"}]]"#,
    );
    let sent = fake.wait_for_sent(1, WAIT);
    assert!(
        sent[0].content.contains("May I run `exec`?")
            && sent[0].content.contains("touch confirmed")
            && sent[0].content.contains("Reply **yes**"),
        "{}",
        sent[0].content
    );
    assert!(
        !p.workspace().join("confirmed").exists(),
        "ran before the yes"
    );
    fake.dm("2024", "yes");
    let sent = fake.wait_for_sent(2, WAIT);
    assert!(
        sent[1].content.starts_with("done: "),
        "{sent:?}\n{}",
        p.stderr()
    );
    assert!(p.workspace().join("confirmed").exists());
}
