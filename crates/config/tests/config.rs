#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use picoclaw_config::{parse, ConfigError, ProviderKind, SandboxMode, SecretSource};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml")
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn parse_str(src: &str, env: &[(&str, &str)]) -> Result<picoclaw_config::Config, ConfigError> {
    parse(Path::new("/etc/picoclaw/config.toml"), src, &env_of(env))
}

fn invalid(err: ConfigError) -> (usize, usize, String, String) {
    match err {
        ConfigError::Invalid {
            line,
            col,
            key,
            message,
            ..
        }
        | ConfigError::Syntax {
            line,
            col,
            key,
            message,
            ..
        } => (line, col, key, message),
        other => panic!("expected a positioned error, got {other:?}"),
    }
}

#[test]
fn example_config_parses_with_documented_defaults() {
    let src = std::fs::read_to_string(example_path()).unwrap();
    let c = parse(&example_path(), &src, &env_of(&[])).unwrap();
    assert_eq!(c.agent.max_tool_iterations, 20);
    assert_eq!(c.agent.context_window, 16000);
    assert!(c.telegram.is_none(), "example ships with telegram disabled");
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].kind, ProviderKind::OpenAi);
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:11434/v1");
    assert_eq!(c.sandbox.mode, SandboxMode::Enforce);
    assert_eq!(c.agent.workspace, c.store.dir.join("workspace"));
}

#[test]
fn every_key_in_the_example_is_one_the_parser_accepts_when_uncommented() {
    // Uncomment every `# key = value` line and check the result still parses:
    // the commented examples are documentation and must not rot.
    let src = std::fs::read_to_string(example_path()).unwrap();
    let mut out = String::new();
    for line in src.lines() {
        let t = line.trim_start();
        let candidate = t.strip_prefix("# ").unwrap_or("");
        let is_kv = candidate.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let is_table = candidate.starts_with("[[") || candidate.starts_with("[mcp.servers.");
        if is_kv || is_table {
            out.push_str(candidate);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    // Uncommenting gives both token and token_file, and api_key and
    // api_key_file; keep the inline forms. ca_file must name a real PEM
    // file, so it points at one made here.
    let dir = tempdir();
    let ca = dir.join("ca.pem");
    picoclaw_testkit::tls::TestCa::new().write_pem(&ca);
    let out: String = out
        .lines()
        .filter(|l| !l.starts_with("token_file") && !l.starts_with("api_key_file"))
        .map(|l| {
            if l.starts_with("ca_file = ") {
                format!("ca_file = \"{}\"", ca.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let env = [
        ("TELEGRAM_BOT_TOKEN", "123:abc"),
        ("OPENAI_API_KEY", "sk-test"),
        ("ANTHROPIC_API_KEY", "ak"),
        ("BRAVE_API_KEY", "bk"),
        ("MCP_TOKEN", "mcp-token-123"),
    ];
    let c = parse_str(&out, &env).unwrap_or_else(|e| panic!("{e}\n---\n{out}"));
    assert_eq!(c.providers.len(), 2);
    assert_eq!(c.providers[1].kind, ProviderKind::Anthropic);
    assert_eq!(c.agent.system_prompt.as_deref(), Some("Answer in English."));
    assert_eq!(c.http.ca_file.as_ref().map(|f| f.len()), Some(1));
    let search = c.tools.web.search.as_ref().unwrap();
    assert_eq!(search.api_key.as_ref().unwrap().expose(), "bk");
    assert_eq!(c.tools.web.proxy.as_deref(), Some("http://127.0.0.1:3128"));
    let names: Vec<&str> = c.mcp.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files", "remote"]);
    assert_eq!(
        c.tools.policy,
        [picoclaw_agent::ToolRule {
            channel: Some("telegram".into()),
            chat: Some(picoclaw_core::ChatKind::Group),
            users: vec!["4242".into()],
            allow: vec!["web".into()],
            deny: vec!["memory".into()],
            confirm: vec!["exec".into()],
        }]
    );
}

#[test]
fn values_written_in_the_example_are_the_defaults_applied_when_keys_are_left_out() {
    // The example says "every key is shown with its default value": drop
    // every uncommented key line outside the channel and provider tables
    // (those set values on purpose) and the effective config must not change.
    let src = std::fs::read_to_string(example_path()).unwrap();
    let mut table = String::new();
    let mut stripped = String::new();
    for line in src.lines() {
        if line.starts_with('[') {
            table = line.to_string();
        }
        let keeps_values = table.starts_with("[channels") || table.starts_with("[[providers");
        let is_kv = !line.starts_with('#') && line.contains(" = ");
        if is_kv && !keeps_values {
            continue;
        }
        stripped.push_str(line);
        stripped.push('\n');
    }
    let full = parse(&example_path(), &src, &env_of(&[])).unwrap();
    let bare = parse(&example_path(), &stripped, &env_of(&[])).unwrap();
    assert_eq!(full.render_masked(), bare.render_masked());
}

#[test]
fn unknown_key_is_reported_with_line_column_and_key_path() {
    let src = "[agent]\nmax_tool_iterations = 5\nworkspac = \"/w\"\n";
    let (line, col, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, col), (3, 1));
    assert_eq!(key, "agent.workspac");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    let src = "[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m2\"\nmax_tokens = \"many\"\n";
    let (line, col, key, _) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, col), (8, 14));
    assert_eq!(key, "providers[1].max_tokens");
}

#[test]
fn bad_toml_syntax_is_reported_with_position() {
    let src = "[log]\nlevel = \"info\n";
    let err = parse_str(src, &[]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("/etc/picoclaw/config.toml:2:"),
        "{err}"
    );
}

#[test]
fn invalid_values_name_the_key_and_where_it_is() {
    let src = "[log]\nlevel = \"loud\"\n";
    let (line, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (2, "log.level"));
    assert!(msg.contains("loud"));

    let src = "[[providers]]\nkind = \"gpt\"\nmodel = \"m\"\n";
    let (line, _, key, _) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (2, "providers[0].kind"));
}

#[test]
fn enabled_telegram_without_token_is_an_error() {
    let src = "[channels.telegram]\nallow_from = [1]\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let (_, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!(key, "channels.telegram.token");
    assert!(msg.contains("missing"));
}

#[test]
fn env_references_resolve_and_unset_ones_fail_clearly() {
    let src = "[channels.telegram]\ntoken = \"${TG}\"\nallow_from = [42, \"@Alice\", \"*\"]\n\n[[providers]]\nkind = \"anthropic\"\nmodel = \"m\"\napi_key = \"${AK}\"\n";
    let c = parse_str(
        src,
        &[("TG", "111:secret-token"), ("AK", "anthropic-key-123")],
    )
    .unwrap();
    let t = c.telegram.unwrap();
    assert_eq!(t.token.expose(), "111:secret-token");
    assert_eq!(t.token_source, SecretSource::Env);
    assert_eq!(t.allow_from, vec!["42", "@Alice", "*"]);
    assert_eq!(
        c.providers[0].api_key.as_ref().unwrap().expose(),
        "anthropic-key-123"
    );
    assert_eq!(c.providers[0].base_url, "https://api.anthropic.com");
    assert_eq!(c.providers[0].timeout, Duration::from_secs(120));

    let (line, _, key, msg) = invalid(parse_str(src, &[("TG", "x")]).unwrap_err());
    assert_eq!((line, key.as_str()), (8, "providers[0].api_key"));
    assert_eq!(msg, "environment variable AK is not set");
}

#[test]
fn secret_files_are_read_and_trailing_newline_dropped() {
    let dir = tempdir();
    std::fs::write(dir.join("tg"), "999:from-file-token\n").unwrap();
    let src = "[channels.telegram]\ntoken_file = \"tg\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let path = dir.join("config.toml");
    let c = parse(&path, src, &env_of(&[])).unwrap();
    let t = c.telegram.unwrap();
    assert_eq!(t.token.expose(), "999:from-file-token");
    assert_eq!(t.token_source, SecretSource::File);
    assert_eq!(
        c.secret_files,
        vec![dir.join("tg")],
        "kept so the sandbox can hide it"
    );

    let src_missing = "[channels.telegram]\ntoken_file = \"nope\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let (_, _, key, msg) = invalid(parse(&path, src_missing, &env_of(&[])).unwrap_err());
    assert_eq!(key, "channels.telegram.token_file");
    assert!(msg.contains("cannot read"), "{msg}");
}

#[test]
fn world_readable_file_with_inline_secret_is_refused() {
    let dir = tempdir();
    let path = dir.join("config.toml");
    let src = "[channels.telegram]\ntoken = \"123:inline-secret\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    std::fs::write(&path, src).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = picoclaw_config::load(Some(&path)).unwrap_err();
    assert!(
        matches!(err, ConfigError::Insecure { mode: 0o644, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(picoclaw_config::load(Some(&path)).is_ok());

    // Env references are not secrets in the file: 0644 is fine.
    std::fs::write(
        &path,
        src.replace("123:inline-secret", "${TG_TEST_UNUSED_VAR_X}"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = picoclaw_config::load(Some(&path)).unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { .. }),
        "unset env var, not insecure: {err:?}"
    );
}

#[test]
fn masked_rendering_never_contains_the_secret() {
    let src = "[channels.telegram]\ntoken = \"${TG}\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\napi_key = \"${K}\"\n";
    let c = parse_str(
        src,
        &[
            ("TG", "555:very-secret-token-value"),
            ("K", "sk-another-secret-key"),
        ],
    )
    .unwrap();
    let out = c.render_masked();
    assert!(!out.contains("very-secret-token-value"));
    assert!(!out.contains("sk-another-secret-key"));
    assert!(out.contains("token = \"***alue\""), "{out}");
}

#[test]
fn ca_file_is_read_at_load_and_trusted_with_the_builtin_roots() {
    let dir = tempdir();
    let ca = dir.join("corp-ca.pem");
    let test_ca = picoclaw_testkit::tls::TestCa::new();
    // Two CAs in one file, with a key block that is skipped.
    let pem = format!(
        "{}{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        test_ca.pem(),
        picoclaw_testkit::tls::TestCa::new().pem()
    );
    std::fs::write(&ca, pem).unwrap();
    let src = "[http]\nca_file = \"corp-ca.pem\"\n";
    let c = parse(&dir.join("config.toml"), src, &env_of(&[])).unwrap();
    let file = c.http.ca_file.as_ref().unwrap();
    assert_eq!((file.path(), file.len()), (ca.as_path(), 2));
    assert!(
        c.http
            .trust()
            .describe()
            .ends_with(&format!(", plus ca_file: {}, 2 certificates", ca.display())),
        "{}",
        c.http.trust().describe()
    );
    assert!(
        c.render_masked().contains(&format!(
            "[http]\nca_file = \"{}\"  # 2 certificate(s)",
            ca.display()
        )),
        "{}",
        c.render_masked()
    );
    assert!(parse_str("", &[]).unwrap().http.ca_file.is_none());
}

#[test]
fn an_unreadable_or_empty_ca_file_is_a_config_error_at_its_line() {
    let dir = tempdir();
    let path = dir.join("config.toml");
    let src = "[log]\nlevel = \"info\"\n\n[http]\nca_file = \"missing.pem\"\n";
    let (line, col, key, msg) = invalid(parse(&path, src, &env_of(&[])).unwrap_err());
    assert_eq!((line, col, key.as_str()), (5, 1, "http.ca_file"));
    assert_eq!(
        msg,
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            dir.join("missing.pem").display()
        )
    );

    std::fs::write(dir.join("empty.pem"), "# no certificates here\n").unwrap();
    let src = "[http]\nca_file = \"empty.pem\"\n";
    let err = parse(&path, src, &env_of(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: http.ca_file: {} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            path.display(),
            dir.join("empty.pem").display()
        )
    );
}

#[test]
fn web_tools_are_on_by_default_and_search_needs_a_provider() {
    let c = parse_str("", &[]).unwrap();
    let w = &c.tools.web;
    assert!(w.enabled);
    assert_eq!(w.timeout, Duration::from_secs(20));
    assert_eq!(w.max_bytes, 2 * 1024 * 1024);
    assert!(w.allow_private.is_empty() && w.search.is_none());

    let src = "[tools.web]\nallow_private = [\"nas.lan\", \"10.0.0.0/8\"]\n[tools.web.search]\nprovider = \"searxng\"\nbase_url = \"http://127.0.0.1:8888/\"\n";
    let c = parse_str(src, &[]).unwrap();
    let opts = c.tools.web.options();
    assert_eq!(opts.allow_private, vec!["nas.lan", "10.0.0.0/8"]);
    let s = opts.search.unwrap();
    assert_eq!(s.base_url, "http://127.0.0.1:8888");
    assert_eq!((s.api_key, s.max_results), (None, 5));
}

#[test]
fn bad_web_settings_name_their_key() {
    let cases = [
        (
            "[tools.web]\nallow_private = [\"10.0.0.0/40\"]\n",
            2,
            "tools.web.allow_private",
            "10.0.0.0/40",
        ),
        (
            "[tools.web.search]\nprovider = \"google\"\n",
            2,
            "tools.web.search.provider",
            "unknown provider",
        ),
        (
            "[tools.web.search]\nprovider = \"searxng\"\n",
            1,
            "tools.web.search.base_url",
            "missing",
        ),
        (
            "[tools.web.search]\nprovider = \"brave\"\n",
            1,
            "tools.web.search.api_key",
            "subscription token",
        ),
        (
            "[tools.web]\nmax_bytes = 10\n",
            2,
            "tools.web.max_bytes",
            "out of range",
        ),
    ];
    for (src, line, key, words) in cases {
        let (l, _, k, msg) = invalid(parse_str(src, &[]).unwrap_err());
        assert_eq!((l, k.as_str()), (line, key), "{src}");
        assert!(msg.contains(words), "{src}: {msg}");
    }
}

#[test]
fn discord_resolves_every_key_and_defaults_the_rest() {
    let src = "[channels.discord]\ntoken = \"${DT}\"\nallow_from = [123456789012345678, \"223456789012345678\"]\nallow_guilds = [\"1\"]\nallow_channels = [2, 3]\nmention_only = false\ngateway_timeout_secs = 7\nproxy = \"http://127.0.0.1:3128\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let c = parse_str(src, &[("DT", "discord-bot-token-value")]).unwrap();
    let d = c.discord.clone().unwrap();
    assert_eq!(d.token.expose(), "discord-bot-token-value");
    assert_eq!(d.token_source, SecretSource::Env);
    assert_eq!(d.api_base, "https://discord.com/api/v10");
    assert_eq!(
        d.allow_from,
        vec!["123456789012345678", "223456789012345678"]
    );
    assert_eq!(d.allow_guilds, vec!["1"]);
    assert_eq!(d.allow_channels, vec!["2", "3"]);
    assert!(!d.mention_only);
    assert_eq!(d.gateway_timeout, Duration::from_secs(7));
    assert_eq!(d.proxy.as_deref(), Some("http://127.0.0.1:3128"));
    let out = c.render_masked();
    assert!(!out.contains("discord-bot-token-value"), "{out}");
    assert!(
        out.contains("[channels.discord]\nenabled = true\n"),
        "{out}"
    );

    let bare = "[channels.discord]\ntoken = \"${DT}\"\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let d = parse_str(bare, &[("DT", "t")]).unwrap().discord.unwrap();
    assert!(d.mention_only);
    assert!(d.allow_from.is_empty());
    assert_eq!(d.gateway_timeout, Duration::from_secs(20));
}

#[test]
fn discord_ids_that_are_not_snowflakes_are_reported_where_they_are() {
    let src = "[channels.discord]\ntoken = \"t\"\nallow_from = [\"*\"]\nallow_channels = [\"general\"]\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let (line, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!(
        (line, key.as_str()),
        (4, "channels.discord.allow_channels[0]")
    );
    assert!(
        msg.starts_with("\"general\" is not a Discord channel id;"),
        "{msg}"
    );
    assert!(msg.contains("Copy ID"), "{msg}");

    let src =
        "[channels.discord]\nallow_from = [1]\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n";
    let (_, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!(key, "channels.discord.token");
    assert!(msg.contains("DISCORD_BOT_TOKEN"), "{msg}");

    let src = "[channels.discord]\ntoken = \"t\"\nmention = true\n";
    let (line, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (3, "channels.discord.mention"));
    assert!(msg.contains("unknown field"), "{msg}");
}

fn tempdir() -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("picoclaw-config-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_enabled_heartbeat_needs_a_chat_and_reads_its_active_hours() {
    let (line, _, key, msg) = invalid(parse_str("[heartbeat]\nenabled = true\n", &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (1, "heartbeat.chat_id"));
    assert!(msg.starts_with("missing"), "{msg}");

    let src = "[heartbeat]\nenabled = true\nchat_id = \"4242\"\nactive_hours = \"22:00-06:30\"\ninterval_mins = 15\n";
    let h = parse_str(src, &[]).unwrap().heartbeat.unwrap();
    assert_eq!(h.chat_id, "4242");
    assert_eq!(h.channel, "telegram");
    assert_eq!(h.active_hours, Some((22 * 60, 6 * 60 + 30)));
    assert_eq!(h.interval, Duration::from_secs(900));

    let bad = "[heartbeat]\nenabled = true\nchat_id = \"1\"\nactive_hours = \"8-22\"\n";
    let (line, _, key, _) = invalid(parse_str(bad, &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (4, "heartbeat.active_hours"));
}

#[test]
fn scheduler_settings_are_checked_where_they_are_written() {
    let (line, _, key, msg) =
        invalid(parse_str("[scheduler]\nmissed = \"sometimes\"\n", &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (2, "scheduler.missed"));
    assert!(msg.contains("run_once"), "{msg}");
    let (_, _, key, _) = invalid(parse_str("[scheduler]\nmin_every_secs = 0\n", &[]).unwrap_err());
    assert_eq!(key, "scheduler.min_every_secs");
    let c = parse_str("[scheduler]\ntimezone = \"Europe/Berlin\"\n", &[]).unwrap();
    assert_eq!(c.scheduler.options.timezone, "Europe/Berlin");
    assert!(c.scheduler.enabled);
    assert!(c.heartbeat.is_none(), "the heartbeat is off unless enabled");
}

#[test]
fn redact_patterns_and_audit_retention_are_read_and_checked() {
    let src = "[log]\nredact_patterns = [\"acme_live_*\", \"*.corp.example.com\"]\n\n[audit]\nretention_days = 7\n";
    let c = parse_str(src, &[]).unwrap();
    assert_eq!(c.log.redact_patterns, ["acme_live_*", "*.corp.example.com"]);
    assert_eq!(c.audit.retention_days, 7);
    let bare = parse_str("", &[]).unwrap();
    assert_eq!(bare.audit.retention_days, 30);
    assert!(bare.log.redact_patterns.is_empty());

    let src = "[log]\nredact_patterns = [\"ok_pattern_*\", \"*\"]\n";
    let (line, _, key, msg) = invalid(parse_str(src, &[]).unwrap_err());
    assert_eq!((line, key.as_str()), (2, "log.redact_patterns"));
    assert!(
        msg.starts_with("[1] \"*\": needs at least 4 characters"),
        "{msg}"
    );
}

#[test]
fn dm_policy_defaults_from_allow_from_and_open_needs_a_written_star() {
    use picoclaw_agent::DmPolicy;
    let tg = |keys: &str| {
        format!("[channels.telegram]\ntoken = \"1:a\"\n{keys}\n\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n")
    };
    let policy = |keys: &str| parse_str(&tg(keys), &[]).map(|c| c.telegram.unwrap().dm_policy);
    assert_eq!(policy("allow_from = [1]").unwrap(), DmPolicy::Pairing);
    assert_eq!(policy("allow_from = [\"*\"]").unwrap(), DmPolicy::Open);
    assert_eq!(
        policy("dm_policy = \"allowlist\"").unwrap(),
        DmPolicy::Allowlist
    );
    let (line, _, key, msg) =
        invalid(policy("allow_from = [1]\ndm_policy = \"open\"").unwrap_err());
    assert_eq!((line, key.as_str()), (4, "channels.telegram.dm_policy"));
    assert!(msg.contains("allow_from = [\"*\"]"), "{msg}");
    let (_, _, key, msg) =
        invalid(policy("allow_from = [\"*\"]\ndm_policy = \"pairing\"").unwrap_err());
    assert_eq!(key, "channels.telegram.dm_policy");
    assert!(msg.contains("contradicts"), "{msg}");
    let (_, _, _, msg) = invalid(policy("dm_policy = \"closed\"").unwrap_err());
    assert!(
        msg.contains("\"pairing\", \"allowlist\", \"open\""),
        "{msg}"
    );
    let (line, _, key, msg) = invalid(policy("owners = [42, \"@boss\"]").unwrap_err());
    assert_eq!((line, key.as_str()), (3, "channels.telegram.owners[1]"));
    assert!(msg.contains("not a numeric user id"), "{msg}");
    let c = parse_str(&tg("owners = [42, \"43\"]"), &[]).unwrap();
    assert_eq!(c.telegram.as_ref().unwrap().owners, ["42", "43"]);
    let out = c.render_masked();
    assert!(
        out.contains("dm_policy = \"pairing\"\nowners = [\"42\", \"43\"]\n"),
        "{out}"
    );
}

#[test]
fn a_bad_tool_policy_rule_is_reported_at_its_key() {
    let rule = |keys: &str| {
        format!("[[providers]]\nkind = \"openai\"\nmodel = \"m\"\n\n[[tools.policy]]\nallow = [\"web\"]\n\n[[tools.policy]]\n{keys}\n")
    };
    for (keys, key, says) in [
        (
            "chat = \"dm\"",
            "tools.policy[1].chat",
            "\"direct\", \"group\", \"any\"",
        ),
        (
            "channel = \"slack\"",
            "tools.policy[1].channel",
            "telegram, discord, cli",
        ),
        (
            "deny = [\"exec\", \"Exec Tool\"]",
            "tools.policy[1].deny[1]",
            "fs, exec, web",
        ),
    ] {
        let (line, _, k, msg) = invalid(parse_str(&rule(keys), &[]).unwrap_err());
        assert_eq!((line, k.as_str()), (9, key), "{msg}");
        assert!(msg.contains(says), "{msg}");
    }
    let c = parse_str(
        &rule("chat = \"any\"\nusers = [7, \"8\"]\nconfirm = [\"mcp_git_commit\"]"),
        &[],
    )
    .unwrap();
    assert_eq!(c.tools.policy.len(), 2);
    assert_eq!(c.tools.policy[1].chat, None);
    assert_eq!(c.tools.policy[1].users, ["7", "8"]);
    let again = parse_str(&c.render_masked(), &[]).unwrap();
    assert_eq!(
        again.tools.policy, c.tools.policy,
        "check-config output parses back"
    );
}
