//! Tools as the model uses them through the binary: workspace confinement,
//! exec in the sandbox, and the one-shot CLI channel (issue 3).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::util::*;

/// Tool results the model received in its second request.
#[test]
fn path_traversal_by_the_model_is_refused_and_reported_to_it() {
    let mut p = Picoclaw::new("traversal");
    // A file outside the workspace that the tool user could write if the
    // tools were not confined (so a refusal is confinement, not chmod).
    let outside = p.dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o777)).unwrap();
    let victim = outside.join("victim.txt");
    fs::write(&victim, "original").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o666)).unwrap();
    // A symlink inside the workspace leading out of it.
    fs::create_dir_all(p.workspace()).unwrap();
    std::os::unix::fs::symlink(&outside, p.workspace().join("door")).unwrap();

    let abs = victim.display().to_string();
    let calls = [
        r#"[[call write_file {"path":"../outside/victim.txt","content":"pwned"}]]"#.to_string(),
        format!(r#"[[call write_file {{"path":"{abs}","content":"pwned"}}]]"#),
        r#"[[call write_file {"path":"door/victim.txt","content":"pwned"}]]"#.to_string(),
        r#"[[call read_file {"path":"../outside/victim.txt"}]]"#.to_string(),
        r#"[[call read_file {"path":"door/victim.txt"}]]"#.to_string(),
        format!(r#"[[call read_file {{"path":"{abs}"}}]]"#),
    ];
    p.start();
    p.say(&format!("try these: {}", calls.join(" ")));
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(r[0].starts_with("done: "), "{r:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "original");
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 6, "{results:?}");
    for (call, result) in calls.iter().zip(&results) {
        assert!(
            result.contains("escapes the workspace")
                || result.contains("outside the workspace")
                || result.contains("symlink"),
            "{call}\n=> {result}"
        );
        assert!(!result.contains("original"), "{call} read it: {result}");
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing created"
    );
}

#[test]
fn files_inside_the_workspace_can_be_listed_and_edited() {
    let mut p = Picoclaw::new("edit");
    p.start();
    p.say(
        r#"[[call write_file {"path":"docs/plan.md","content":"step one\nstep two\n"}]] [[call edit_file {"path":"docs/plan.md","old_text":"step two","new_text":"step 2"}]] [[call list_dir {"path":"docs"}]]"#,
    );
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 3);
    assert!(results[2].contains("plan.md"), "{results:?}");
    assert_eq!(
        fs::read_to_string(p.workspace().join("docs/plan.md")).unwrap(),
        "step one\nstep 2\n",
        "edit result: {}",
        results[1]
    );
}

#[test]
fn exec_runs_echo_in_the_sandbox_and_its_output_reaches_the_model() {
    let mut p = Picoclaw::new("exec");
    p.start();
    p.say(r#"[[call exec {"command":"echo hello-from-the-sandbox; id -u"}]]"#);
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 1);
    assert!(results[0].contains("hello-from-the-sandbox"), "{results:?}");
    // Not as root: the sandbox runs tools as an unprivileged user.
    let uid_line = results[0]
        .lines()
        .find(|l| l.trim().chars().all(|c| c.is_ascii_digit()) && !l.trim().is_empty());
    assert!(
        uid_line.is_some_and(|u| u.trim() != "0"),
        "uid: {uid_line:?} in {results:?}"
    );
}

#[test]
fn agent_dash_m_prints_the_answer_without_any_channel() {
    let p = Picoclaw::new("oneshot");
    p.edit_config(|c| {
        c.replace(
            "[channels.telegram]\n",
            "[channels.telegram]\nenabled = false\n",
        )
    });
    let out = p.run_cli(&["agent", "-m", "hi from the terminal"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "echo: hi from the terminal\n");
    assert_eq!(p.llm.request_count(), 1);
    assert_eq!(p.tg.get_updates_calls(), 0, "Telegram is not touched");
    assert!(p.tg.sent().is_empty());
    // It went through the store like any channel.
    assert_eq!(
        p.inbound_rows(),
        vec![("hi from the terminal".to_string(), "answered".to_string())]
    );
}

#[test]
fn agent_dash_m_with_tools_and_a_failing_provider() {
    let p = Picoclaw::new("oneshot-tools");
    p.edit_config(|c| {
        c.replace(
            "[channels.telegram]\n",
            "[channels.telegram]\nenabled = false\n",
        )
    });
    let out = p.run_cli(&[
        "agent",
        "-m",
        r#"[[call write_file {"path":"cli.txt","content":"from the cli"}]]"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).starts_with("done: "), "{}", stdout_of(&out));
    assert_eq!(
        fs::read_to_string(p.workspace().join("cli.txt")).unwrap(),
        "from the cli"
    );
    // All attempts fail: a clear message and exit 1.
    p.llm.push(Step::status(500)).push(Step::status(500));
    let out = p.run_cli(&["agent", "-m", "again"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with("Sorry, I couldn't get an answer from the model"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn agent_without_m_is_a_repl_on_stdin_with_history_and_commands() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let p = Picoclaw::new("repl");
    p.edit_config(|c| {
        c.replace(
            "[channels.telegram]\n",
            "[channels.telegram]\nenabled = false\n",
        )
    });
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
        .write_all(b"first line\n\nsecond line\n/new\nthird line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let answers: Vec<String> = stdout_of(&out)
        .split("> ")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        answers,
        vec![
            "echo: first line",
            "echo: second line",
            "Started a fresh conversation.",
            "echo: third line"
        ]
    );
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 3);
    let count = |n: usize| {
        reqs[n].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] != "system")
            .count()
    };
    assert_eq!((count(0), count(1), count(2)), (1, 3, 1));
}
