//! `[mcp.servers.*]` and `[skills]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use picoclaw_config::{parse, ConfigError, McpTransport};
use picoclaw_mcp::Transport;

fn parse_str(src: &str, env: &[(&str, &str)]) -> Result<picoclaw_config::Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(Path::new("/etc/picoclaw/config.toml"), src, &move |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

fn invalid(src: &str) -> (usize, String, String) {
    match parse_str(src, &[]).unwrap_err() {
        ConfigError::Invalid {
            line, key, message, ..
        }
        | ConfigError::Syntax {
            line, key, message, ..
        } => (line, key, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stdio_server_carries_its_command_env_and_sandbox_settings_to_the_client() {
    let src = r#"
[mcp.servers.files]
command = "node"
args = ["/opt/mcp/fs.js", "${WS}"]
env = { API_KEY = "${FS_KEY}", MODE = "ro" }
enabled_tools = ["read_text_file"]
writable_paths = ["/srv/data"]
read_paths = ["mcp"]
allow_net = true
net_ports = [443, 8443]
memory_mib = 1024
timeout_secs = 5
"#;
    let c = parse_str(src, &[("WS", "/srv/ws"), ("FS_KEY", "fs-secret-key-42")]).unwrap();
    let s = &c.mcp.servers[0];
    let o = s.options();
    assert_eq!(o.name, "files");
    assert_eq!(
        o.transport,
        Transport::Stdio {
            command: "node".into(),
            args: vec!["/opt/mcp/fs.js".into(), "/srv/ws".into()],
            env: vec![
                ("API_KEY".into(), "fs-secret-key-42".into()),
                ("MODE".into(), "ro".into())
            ],
        }
    );
    assert_eq!(o.timeout, Duration::from_secs(5));
    assert_eq!(o.enabled_tools, Some(vec!["read_text_file".to_string()]));
    assert_eq!(o.sandbox.writable_paths, [PathBuf::from("/srv/data")]);
    assert_eq!(o.sandbox.read_paths, [PathBuf::from("/etc/picoclaw/mcp")]);
    assert!(o.sandbox.allow_net);
    assert_eq!(o.sandbox.net_ports, [443, 8443]);
    assert_eq!(o.sandbox.memory_bytes, Some(1024 << 20));
    let shown = c.render_masked();
    assert!(!shown.contains("fs-secret-key-42"), "{shown}");
    assert!(shown.contains("\"MODE\" = \"ro\""), "{shown}");
    assert!(
        shown.contains("env = { \"API_KEY\" = \"***y-42 (from environment)\", \"MODE\" = \"ro\" }"),
        "{shown}"
    );
    // check-config's output is TOML.
    assert!(shown.parse::<toml::Table>().is_ok(), "{shown}");
}

#[test]
fn defaults_are_the_clients_an_http_server_keeps_its_headers_secret() {
    let src = "[mcp.servers.a]\ncommand = \"srv\"\n\n[mcp.servers.remote]\nurl = \"https://mcp.example.com/mcp/\"\nheaders = { Authorization = \"Bearer ${TOK}\" }\n";
    let c = parse_str(src, &[("TOK", "tok-0123456789abcdef")]).unwrap();
    let a = c.mcp.servers[0].options();
    let client = picoclaw_mcp::ServerOptions::stdio("a", "srv", &[]);
    assert_eq!(
        (a.enabled, a.timeout, a.enabled_tools.clone()),
        (client.enabled, client.timeout, None)
    );
    assert!(!a.sandbox.allow_net);
    assert_eq!(a.sandbox.net_ports, picoclaw_mcp::DEFAULT_NET_PORTS);
    assert_eq!(
        a.sandbox.memory_bytes,
        Some(picoclaw_mcp::DEFAULT_SERVER_MEMORY)
    );
    let McpTransport::Http { url, headers } = &c.mcp.servers[1].transport else {
        panic!("not http")
    };
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers[0].1.expose(), "Bearer tok-0123456789abcdef");
    let shown = c.render_masked();
    assert!(!shown.contains("tok-0123456789abcdef"), "{shown}");
}

#[test]
fn misconfigured_servers_name_the_key_and_its_line() {
    let (line, key, msg) = invalid("[mcp.servers.x]\nargs = []\n");
    assert_eq!((line, key.as_str()), (1, "mcp.servers.x"));
    assert!(msg.contains("set command"), "{msg}");
    let (line, key, _) =
        invalid("[mcp.servers.x]\ncommand = \"a\"\nurl = \"http://127.0.0.1:1/\"\n");
    assert_eq!((line, key.as_str()), (3, "mcp.servers.x.url"));
    let (line, key, msg) =
        invalid("[mcp.servers.x]\nurl = \"http://127.0.0.1:1/\"\nallow_net = true\n");
    assert_eq!((line, key.as_str()), (3, "mcp.servers.x.allow_net"));
    assert!(msg.contains("only for command"), "{msg}");
    let (_, key, _) = invalid("[mcp.servers.x]\ncommand = \"a\"\nheaders = { A = \"b\" }\n");
    assert_eq!(key, "mcp.servers.x.headers");
    let (_, key, msg) = invalid("[mcp.servers.\"has space\"]\ncommand = \"a\"\n");
    assert_eq!(key, "mcp.servers.has space");
    assert!(msg.contains("letters, digits"), "{msg}");
    let (_, key, _) = invalid("[mcp.servers.x]\nurl = \"ftp://h\"\n");
    assert_eq!(key, "mcp.servers.x.url");
    let (line, key, msg) =
        invalid("[mcp.servers.x]\ncommand = \"a\"\nenv = { K = \"${UNSET_VAR}\" }\n");
    assert_eq!((line, key.as_str()), (3, "mcp.servers.x.env"));
    assert!(msg.contains("UNSET_VAR"), "{msg}");
    let (_, key, msg) = invalid("[mcp.servers.x]\ncommand = \"a\"\nbogus = 1\n");
    assert_eq!(key, "mcp.servers.x.bogus");
    assert!(msg.contains("unknown field"), "{msg}");
    let (_, key, _) = invalid("[mcp.servers.x]\ncommand = \"a\"\ntimeout_secs = 0\n");
    assert_eq!(key, "mcp.servers.x.timeout_secs");
}

#[test]
fn an_inline_header_secret_needs_a_private_config_file() {
    let dir = std::env::temp_dir().join(format!("picoclaw-config-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[mcp.servers.r]\nurl = \"https://h/mcp\"\nheaders = { Authorization = \"Bearer inline-secret\" }\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = picoclaw_config::load(Some(&path)).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Insecure { key, .. } if key == "mcp.servers.r.headers"),
        "{err:?}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(picoclaw_config::load(Some(&path)).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn skills_default_to_a_directory_beside_the_config() {
    let c = parse_str("", &[]).unwrap();
    assert!(c.skills.enabled);
    assert_eq!(c.skills.dir, PathBuf::from("/etc/picoclaw/skills"));
    assert_eq!(c.skills.max_listed, picoclaw_skills::DEFAULT_MAX_LISTED);
    let c = parse_str("[skills]\ndir = \"sk\"\nmax_listed = 3\n", &[]).unwrap();
    assert_eq!(c.skills.dir, PathBuf::from("/etc/picoclaw/sk"));
    let (_, key, _) = invalid("[skills]\nmax_listed = 1000\n");
    assert_eq!(key, "skills.max_listed");
}
