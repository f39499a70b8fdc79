//! MCP servers through the real binary: stdio servers under the kernel
//! sandbox (the official npm reference servers, `scripts/mcp-servers`,
//! and a small adversarial probe server), `picoclaw mcp list|call`,
//! doctor, and a model turn that calls a server's tool through the daemon.
//!
//! Each test runs its servers as a tool user of its own: RLIMIT_NPROC
//! counts per uid, and node starts ~10 threads per server.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn servers_dir() -> PathBuf {
    std::env::var_os("PICOCLAW_MCP_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/mcp-servers"))
        .canonicalize()
        .expect("MCP reference servers missing: run scripts/mcp-servers")
}

/// `[mcp.servers.NAME]` running an installed reference server with node.
fn node_server(name: &str, package: &str, args: &[&str], extra: &str) -> String {
    let script = servers_dir().join(format!(
        "node_modules/@modelcontextprotocol/{package}/dist/index.js"
    ));
    assert!(
        script.is_file(),
        "{} missing: run scripts/mcp-servers",
        script.display()
    );
    let mut all = vec![format!("{:?}", script.display().to_string())];
    all.extend(args.iter().map(|a| format!("{a:?}")));
    format!(
        "[mcp.servers.{name}]\ncommand = \"node\"\nargs = [{}]\nread_paths = [{:?}]\ntimeout_secs = 30\n{extra}\n",
        all.join(", "),
        servers_dir().display().to_string()
    )
}

/// `[mcp.servers.NAME]` running tests/support/mcp_probe.cjs.
fn probe_server(name: &str, extra: &str) -> String {
    let support = repo().join("tests/support").canonicalize().unwrap();
    format!(
        "[mcp.servers.{name}]\ncommand = \"node\"\nargs = [{:?}]\nread_paths = [{:?}]\ntimeout_secs = 20\n{extra}\n",
        support.join("mcp_probe.cjs").display().to_string(),
        support.display().to_string()
    )
}

fn sandbox(uid: u32) -> String {
    format!("[sandbox]\ntool_user = {uid}\n")
}

/// A directory anyone may write: only the sandbox decides who gets in.
fn open_dir(p: &Picoclaw, name: &str) -> PathBuf {
    let d = p.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d.canonicalize().unwrap()
}

/// `picoclaw mcp call SERVER TOOL JSON`: (exit ok, stdout).
fn call(p: &Picoclaw, server: &str, tool: &str, args: Value) -> (bool, String) {
    let out = p.run_cli(&["mcp", "call", server, tool, &args.to_string()]);
    (out.status.success(), stdout_of(&out))
}

fn world_readable(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path.to_path_buf()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_filesystem_server_allowed_all_of_slash_still_cannot_read_the_config_secrets_or_shadow() {
    let mut p = Picoclaw::with_config("mcp-fs-root", "");
    std::fs::write(p.dir.path().join("brave.key"), "brave-secret-key-123\n").unwrap();
    let extra = format!(
        "[tools.web.search]\nprovider = \"brave\"\napi_key_file = \"brave.key\"\n\n{}\n{}",
        sandbox(64011),
        node_server("files", "server-filesystem", &["/"], "")
    );
    p.edit_config(|c| format!("{c}\n{extra}"));
    // A state dir with something in it, as the daemon leaves it.
    p.start();
    assert!(
        p.wait_log("mcp files: ready", WAIT),
        "no ready\n{}",
        p.stderr()
    );
    p.kill9();
    let db = p.state_dir().join("picoclaw.db");
    assert!(db.is_file());
    // World-readable, so only the sandbox keeps them out (the config, the
    // database and /etc/shadow are also closed to the tool user by mode).
    let key = p.dir.path().join("brave.key");
    let notes = world_readable(&p.state_dir().join("notes.txt"), "state-secret-xyz");
    world_readable(&key, "brave-secret-key-123");
    for (path, secret) in [
        (s(&p.config), LLM_KEY),
        (s(&key), "brave-secret-key-123"),
        (s(&notes), "state-secret-xyz"),
        (s(&db), "SQLite format"),
        ("/etc/shadow".to_string(), "root:"),
    ] {
        let (ok, out) = call(
            &p,
            "files",
            "read_text_file",
            serde_json::json!({ "path": path }),
        );
        assert!(!ok, "{path} was read: {out}");
        assert!(!out.contains(secret), "{path} leaked: {out}");
    }
    // Under the namespace backend the state dir exists inside only as the
    // scaffold leading to the server's own directory.
    let (_, out) = call(
        &p,
        "files",
        "list_directory",
        serde_json::json!({"path": s(&p.state_dir())}),
    );
    assert!(
        !out.contains("picoclaw.db") && !out.contains("notes.txt"),
        "state dir listed: {out}"
    );
    // The same server reads what its sandbox allows, so the refusals
    // above are the sandbox's, not a broken server's.
    let (ok, out) = call(
        &p,
        "files",
        "read_text_file",
        serde_json::json!({"path": s(&servers_dir().join("package.json"))}),
    );
    assert!(
        ok && out.contains("picoclaw-mcp-reference-servers"),
        "{out}"
    );
    let escaped = p.dir.path().join("escaped.txt");
    let (ok, _) = call(
        &p,
        "files",
        "write_file",
        serde_json::json!({"path": s(&escaped), "content": "x"}),
    );
    assert!(!ok);
    assert!(!escaped.exists(), "the server wrote outside its sandbox");
}

#[test]
fn a_stdio_server_reads_and_writes_only_what_its_sandbox_allows_and_gets_only_its_env() {
    let p = Picoclaw::with_config("mcp-probe-fs", "");
    let data = open_dir(&p, "data");
    let extra = format!(
        "{}\n{}",
        sandbox(64012),
        probe_server(
            "probe",
            &format!(
                "writable_paths = [{:?}]\nenv = {{ GREETING = \"hi\" }}",
                s(&data)
            )
        )
    );
    p.edit_config(|c| format!("{c}\n{extra}"));
    let (ok, out) = call(
        &p,
        "probe",
        "read",
        serde_json::json!({"path": s(&p.config)}),
    );
    assert!(!ok && !out.contains(LLM_KEY), "{out}");
    // World-readable: only the sandbox stands between the server and
    // these (the state dir is hidden, the test dir is no system root).
    let inside_state = world_readable(&p.state_dir().join("notes.txt"), "state-secret");
    let beside = world_readable(&p.dir.path().join("notes.txt"), "beside-secret");
    for path in [&inside_state, &beside] {
        let (ok, out) = call(&p, "probe", "read", serde_json::json!({"path": s(path)}));
        assert!(!ok && !out.contains("-secret"), "{}: {out}", path.display());
    }
    let (ok, out) = call(
        &p,
        "probe",
        "read",
        serde_json::json!({"path": "/etc/shadow"}),
    );
    assert!(!ok && !out.contains("root:"), "{out}");
    let escaped = p.dir.path().join("escaped.txt");
    let (ok, out) = call(
        &p,
        "probe",
        "write",
        serde_json::json!({"path": s(&escaped), "content": "x"}),
    );
    assert!(!ok && !escaped.exists(), "{out}");
    let (ok, out) = call(
        &p,
        "probe",
        "write",
        serde_json::json!({"path": s(&data.join("ok.txt")), "content": "fine"}),
    );
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(data.join("ok.txt")).unwrap(),
        "fine"
    );
    // Its private dir is its HOME, where caches go.
    let home = p.state_dir().join("mcp/probe");
    let (ok, out) = call(
        &p,
        "probe",
        "write",
        serde_json::json!({"path": s(&home.join("cache.txt")), "content": "c"}),
    );
    assert!(ok, "{out}");
    assert!(home.join("cache.txt").is_file());
    let out = p.run_cli(&["mcp", "call", "probe", "env", "{}"]).stdout;
    let env: Value = serde_json::from_slice(&out).unwrap();
    let mut keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["GREETING", "HOME", "LANG", "PATH", "TMPDIR"],
        "{env}"
    );
    assert_eq!(env["HOME"], s(&home.canonicalize().unwrap()));
}

#[test]
fn a_stdio_server_reaches_the_network_only_with_allow_net_and_only_its_ports() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let other = closed.local_addr().unwrap().port();
    let extra = format!(
        "{}\n{}\n{}",
        sandbox(64013),
        probe_server("offline", ""),
        probe_server("online", &format!("allow_net = true\nnet_ports = [{port}]"))
    );
    let p = Picoclaw::with_config("mcp-net", &extra);
    let nothing_arrived = |l: &TcpListener| {
        l.set_nonblocking(true).unwrap();
        l.accept().is_err()
    };
    let (ok, out) = call(
        &p,
        "offline",
        "connect",
        serde_json::json!({"host": "127.0.0.1", "port": port}),
    );
    assert!(!ok && out.contains("error"), "{out}");
    assert!(
        nothing_arrived(&l),
        "a connection arrived without allow_net"
    );
    let (ok, out) = call(
        &p,
        "online",
        "connect",
        serde_json::json!({"host": "127.0.0.1", "port": other}),
    );
    assert!(!ok, "{out}");
    assert!(
        nothing_arrived(&closed),
        "a port outside net_ports was reached"
    );
    l.set_nonblocking(false).unwrap();
    let (ok, out) = call(
        &p,
        "online",
        "connect",
        serde_json::json!({"host": "127.0.0.1", "port": port}),
    );
    assert!(ok, "{out}");
    let (mut conn, _) = l.accept().unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello");
}

#[test]
fn mcp_list_and_doctor_show_each_servers_state_sandbox_and_tools() {
    let extra = format!(
        "{}\n{}\n[mcp.servers.broken]\ncommand = \"/nonexistent/mcp-server\"\n\n{}",
        sandbox(64014),
        probe_server("probe", "enabled_tools = [\"read\", \"env\"]"),
        "[mcp.servers.off]\ncommand = \"/bin/false\"\nenabled = false\n"
    );
    let p = Picoclaw::with_config("mcp-list", &extra);
    let out = p.run_cli(&["mcp", "list"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr_of(&out));
    let block = |name: &str| -> Vec<String> {
        let mut lines = text
            .lines()
            .skip_while(|l| !l.starts_with(&format!("{name}: ")));
        let head = lines
            .next()
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        std::iter::once(head)
            .chain(lines.take_while(|l| l.starts_with("  ")))
            .map(str::to_string)
            .collect()
    };
    let probe = block("probe");
    assert!(
        probe[0]
            .starts_with("probe: ready; stdio; probe 1; protocol 2025-11-25; sandbox landlock("),
        "{text}"
    );
    assert!(probe[0].contains("+uid 64014"), "{text}");
    assert_eq!(
        probe[2..],
        [
            "  tool mcp_probe_read  Reads a file.",
            "  tool mcp_probe_env  Returns the environment.",
            "  not offered: connect, write",
        ]
    );
    let broken = block("broken");
    assert!(broken[0].starts_with("broken: restarting"), "{text}");
    assert!(
        broken
            .iter()
            .any(|l| l.starts_with("  last error: cannot start the server")),
        "{text}"
    );
    assert_eq!(block("off")[0], "off: disabled");

    let out = p.run_cli(&["doctor"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ok    mcp probe: ready; stdio"), "{text}");
    assert!(
        text.contains("        tool mcp_probe_read  Reads a file."),
        "{text}"
    );
    assert!(text.contains("FAIL  mcp broken: restarting"), "{text}");
    assert!(text.contains("ok    mcp off: disabled"), "{text}");
}

#[test]
fn the_model_calls_an_mcp_tool_through_the_daemon_and_reads_its_result() {
    let extra = format!(
        "{}\n{}",
        sandbox(64015),
        node_server(
            "everything",
            "server-everything",
            &["stdio"],
            "enabled_tools = [\"echo\", \"get-sum\"]"
        )
    );
    let mut p = Picoclaw::with_config("mcp-turn", &extra);
    p.start();
    assert!(
        p.wait_log("mcp everything: ready", WAIT),
        "no ready\n{}",
        p.stderr()
    );
    p.say(r#"please [[call mcp_everything_echo {"message":"ping-42"}]]"#);
    assert_eq!(p.replies(1), ["done: Echo: ping-42"]);
    assert_eq!(p.tool_messages(1), ["Echo: ping-42"]);
    // The call is in the audit log like any other, with what confined it.
    let out = p.run_cli(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let rows: Vec<Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["tool"], "mcp_everything_echo");
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["arguments"], r#"{"message":"ping-42"}"#);
    assert_eq!(rows[0]["user_id"], USER.to_string());
    let label = rows[0]["sandbox"].as_str().unwrap();
    assert!(
        label.starts_with("mcp everything: ") && label.contains("landlock"),
        "{label}"
    );
    // Only the allow-listed tools were offered, with their schemas.
    let first = &p.llm.requests()[0].body;
    let mcp_tools: Vec<&Value> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["function"]["name"].as_str().unwrap().starts_with("mcp_"))
        .collect();
    let names: Vec<&str> = mcp_tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mcp_everything_echo", "mcp_everything_get-sum"]);
    assert_eq!(
        mcp_tools[0]["function"]["parameters"]["required"],
        serde_json::json!(["message"])
    );
}
