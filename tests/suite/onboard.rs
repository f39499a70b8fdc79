//! `picoclaw onboard` without a terminal: flags and environment in, a
//! private config that works out.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

fn onboard(p: &Picoclaw, extra: &[&str], key: &str) -> std::process::Output {
    let config = p.config.display().to_string();
    let state = p.state_dir().display().to_string();
    let (llm, tg) = (p.llm.openai_base(), p.tg.api_base());
    let mut args = vec![
        "onboard",
        "--config",
        &config,
        "--provider",
        "openai",
        "--base-url",
        &llm,
        "--model",
        "test-model",
        "--telegram-token",
        TOKEN,
        "--telegram-api-base",
        &tg,
        "--owner",
        "4242",
        "--state-dir",
        &state,
    ];
    args.extend(extra);
    let mut env = no_key_vars();
    env.push(("OPENAI_API_KEY", key));
    run_env(&args, &env)
}

#[test]
fn non_interactive_onboard_writes_a_private_config_that_check_config_accepts_and_that_answers() {
    let mut p = Picoclaw::new("onboard");
    std::fs::remove_file(&p.config).unwrap();
    let out = onboard(&p, &[], LLM_KEY);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(
        text.contains("ok    provider: ") && text.contains("1 model(s) available"),
        "{text}"
    );
    assert!(
        text.contains("ok    telegram: token accepted, bot @"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Next: `picoclaw agent --config {}`",
            p.config.display()
        )),
        "{text}"
    );
    let mode = std::fs::metadata(&p.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read_to_string(&p.config).unwrap();
    assert!(written.contains("allow_from = [4242]"), "{written}");
    let check = p.run_cli(&["check-config"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr_of(&check));
    for f in ["AGENTS.md", "SOUL.md", "USER.md"] {
        let path = p.state_dir().join("workspace").join(f);
        assert!(path.is_file(), "{} missing", path.display());
    }
    // The written config is a working one.
    p.start();
    p.say("hello from onboarding");
    assert_eq!(
        p.replies(1),
        ["echo: hello from onboarding"],
        "{}",
        p.stderr()
    );
    assert!(
        p.llm.requests().last().unwrap().body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("A calm, practical assistant"),
        "the starter SOUL.md is in the prompt"
    );
}

#[test]
fn onboard_never_replaces_a_config_without_force() {
    let p = Picoclaw::new("onboard-keep");
    let before = std::fs::read_to_string(&p.config).unwrap();
    let out = onboard(&p, &[], LLM_KEY);
    assert_eq!(out.status.code(), Some(2), "{}", stdout_of(&out));
    assert!(
        stderr_of(&out).contains("already exists"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read_to_string(&p.config).unwrap(), before);
    let out = onboard(&p, &["--force"], LLM_KEY);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_ne!(std::fs::read_to_string(&p.config).unwrap(), before);
}

#[test]
fn a_refused_key_writes_nothing_and_an_offline_endpoint_is_noted() {
    let p = Picoclaw::new("onboard-refused");
    std::fs::remove_file(&p.config).unwrap();
    let out = onboard(&p, &[], "sk-wrong-key-000000000000");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("FAIL  provider: ") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!p.config.exists(), "nothing written for a refused key");
    assert!(
        !text.contains("sk-wrong-key"),
        "the key is not echoed: {text}"
    );

    let out = onboard(&p, &["--telegram-token", "999999:wrong-token"], LLM_KEY);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("ok    provider: "), "{text}");
    assert!(text.contains("FAIL  telegram: "), "{text}");
    assert!(
        stderr_of(&out).contains("the telegram key was refused; nothing written"),
        "{}",
        stderr_of(&out)
    );
    assert!(!p.config.exists(), "nothing written for a refused token");

    let url = refused_url();
    let config = p.config.display().to_string();
    let out = run_env(
        &[
            "onboard",
            "--config",
            &config,
            "--provider",
            "openai",
            "--base-url",
            &url,
            "--api-key",
            "sk-offline-key-0000000000",
        ],
        &no_key_vars(),
    );
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(
        text.contains(&format!("note  provider: cannot reach {url}")),
        "{text}"
    );
    assert!(text.contains("No chat channel yet"), "{text}");
    assert!(p.config.exists());
}

/// The provider and channel variables onboard reads: unset, so the
/// machine's own environment cannot answer for the test.
const KEY_VARS: [&str; 8] = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "TELEGRAM_BOT_TOKEN",
    "DISCORD_BOT_TOKEN",
];

/// Every variable in [`KEY_VARS`] set empty (onboard ignores empty ones).
fn no_key_vars() -> Vec<(&'static str, &'static str)> {
    KEY_VARS.iter().map(|v| (*v, "")).collect()
}

#[test]
fn onboard_on_a_terminal_asks_each_question_and_writes_the_answers() {
    let mut p = Picoclaw::new("onboard-tty");
    std::fs::remove_file(&p.config).unwrap();
    let cmd = format!(
        "{BIN} onboard --config {} --state-dir {} --telegram-api-base {}",
        p.config.display(),
        p.state_dir().display(),
        p.tg.api_base()
    );
    // Provider, base URL, model, key, Telegram token, owner id, Discord
    // token (empty: none).
    let answers = format!(
        "openai\n{}\ntest-model\n{LLM_KEY}\n{TOKEN}\n4242\n\n",
        p.llm.openai_base()
    );
    // `script` gives onboard a terminal (a pty) and types stdin into it.
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("PICOCLAW_CONFIG")
        .envs(KEY_VARS.iter().map(|v| (v, "")))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for question in [
        "Provider (openai, anthropic",
        "API base URL [https://api.openai.com/v1]: ",
        "Model [gpt-4o-mini]: ",
        "API key (or set OPENAI_API_KEY): ",
        "Telegram bot token from @BotFather",
        "Your Telegram user id",
        "Discord bot token (empty: no Discord): ",
        "ok    provider: ",
        "ok    telegram: token accepted",
    ] {
        assert!(text.contains(question), "{question:?} missing:\n{text}");
    }
    let written = std::fs::read_to_string(&p.config).unwrap();
    assert!(written.contains("allow_from = [4242]"), "{written}");
    assert!(!written.contains("[channels.discord]"), "{written}");
    let mode = std::fs::metadata(&p.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    p.start();
    p.say("typed setup");
    assert_eq!(p.replies(1), ["echo: typed setup"], "{}", p.stderr());
}
