//! The measurements. Each drives the real binary through the fakes and
//! returns raw samples; `main` turns them into rows.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Daemon, Res, Setup, Wire};

const IDLE: Setup = Setup {
    poll_timeout_secs: 30,
    extra: "",
};
const BUSY: Setup = Setup {
    poll_timeout_secs: 1,
    extra: "",
};
/// `web_fetch` may reach the page server on 127.0.0.1.
const WEB: Setup = Setup {
    poll_timeout_secs: 1,
    extra: "[tools.web]\nallow_private = [\"127.0.0.1\"]\n",
};
const START_WAIT: Duration = Duration::from_secs(20);

/// One "life" of a daemon: start, sit idle, answer a one-line message,
/// then a turn with two tool calls.
#[derive(Debug, Default)]
pub struct Life {
    /// First start: creates and migrates the database.
    pub first_poll_ms: f64,
    /// Restart on the existing database (the common case on a board).
    pub restart_poll_ms: f64,
    pub idle_rss_kib: f64,
    pub idle_threads: f64,
    pub first_request_bytes: f64,
    pub llm_calls_no_tool: f64,
    pub peak_rss_kib: f64,
    /// The answer to the tool turn, to show that exec really ran.
    pub tool_reply: String,
    /// The idle RSS split (smaps_rollup): anonymous and file-backed KiB.
    pub idle_anon_kib: f64,
    pub idle_file_kib: f64,
}

pub fn life(bin: &Path, idle_for: Duration) -> Res<Life> {
    life_over(bin, idle_for, Wire::Http)
}

/// [`life`] with both fakes reached over `wire`.
pub fn life_over(bin: &Path, idle_for: Duration, wire: Wire) -> Res<Life> {
    let mut d = Daemon::start_over(bin, IDLE, &[], wire)?;
    let mut out = Life {
        first_poll_ms: ms(d.first_poll(START_WAIT)?),
        ..Life::default()
    };
    let idle_until = d.spawned + idle_for;
    std::thread::sleep(idle_until.saturating_duration_since(Instant::now()));
    out.idle_rss_kib = d.status_field("VmRSS")? as f64;
    out.idle_threads = d.status_field("Threads")? as f64;
    let (anon, file) = crate::harness::rss_split(d.pid())?;
    (out.idle_anon_kib, out.idle_file_kib) = (anon as f64, file as f64);

    d.say("What is the capital of France?");
    d.wait_replies(1, START_WAIT)?;
    // A second call, if any, would follow at once; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    let reqs = d.llm.requests();
    out.llm_calls_no_tool = reqs.len() as f64;
    let first = reqs.first().ok_or("no LLM request recorded")?;
    // The wire size, as announced by the client; re-serialising the parsed
    // body would hide whitespace and escaping differences.
    out.first_request_bytes = match first.header("content-length") {
        Some(v) => v.parse::<f64>().map_err(|e| e.to_string())?,
        None => first.body.to_string().len() as f64,
    };

    d.say(r#"two tools please [[call write_file {"path":"bench.txt","content":"bench-exec-ok"}]] [[call exec {"command":"cat bench.txt"}]]"#);
    d.wait_replies(2, START_WAIT)?;
    out.peak_rss_kib = d.status_field("VmHWM")? as f64;
    out.tool_reply =
        d.tg.sent()
            .get(1)
            .map(|m| m.visible.clone())
            .unwrap_or_default();
    out.restart_poll_ms = ms(d.restart(bin, START_WAIT)?);
    d.terminate(Duration::from_secs(15))?;
    Ok(out)
}

/// Peak RSS (KiB) of a fresh daemon over a plain turn, then after a turn
/// whose one tool call fetches `bytes` of HTML from a local page server.
pub fn web_fetch_peak(bin: &Path, bytes: usize) -> Res<(f64, f64)> {
    use picoclaw_testkit::http::{Reply, Server};
    let para =
        "<p>Boards with <b>256 MB</b> of RAM run <a href=\"/x\">picoclaw</a> &amp; friends.</p>\n";
    let mut page = String::from("<html><head><title>Bench page</title></head><body>\n");
    while page.len() + para.len() + 16 < bytes {
        page.push_str(para);
    }
    page.push_str("</body></html>\n");
    let page: &'static str = Box::leak(page.into_boxed_str());
    let server = Server::start(move |_| Reply::raw(200, "text/html; charset=utf-8", page));
    let mut d = Daemon::start(bin, WEB, &[])?;
    d.first_poll(START_WAIT)?;
    d.say("hello");
    d.wait_replies(1, START_WAIT)?;
    let plain = d.status_field("VmHWM")? as f64;
    d.say(&format!(
        r#"[[call web_fetch {{"url":"{}/page"}}]]"#,
        server.url()
    ));
    d.wait_replies(2, START_WAIT)?;
    let fetched = d.status_field("VmHWM")? as f64;
    let reply =
        d.tg.sent()
            .get(1)
            .map(|m| m.visible.clone())
            .unwrap_or_default();
    d.terminate(Duration::from_secs(15))?;
    if !reply.contains("HTTP 200") {
        return Err(format!("web_fetch did not succeed: reply {reply:?}"));
    }
    Ok((plain, fetched))
}

/// One daemon with two MCP servers connected.
#[derive(Debug, Default)]
pub struct McpLife {
    pub idle_rss_kib: f64,
    pub idle_anon_kib: f64,
    pub first_request_bytes: f64,
    pub tools: usize,
    pub mcp_tools: usize,
}

/// Starts a daemon with server-everything and server-memory (stdio, under
/// the sandbox), waits until their tools are offered, then measures the
/// daemon's own memory after `idle_for` (the servers are other processes).
pub fn mcp_life(bin: &Path, servers: &Path, idle_for: Duration) -> Res<McpLife> {
    let servers = servers
        .canonicalize()
        .map_err(|e| format!("{}: {e} (run scripts/mcp-servers)", servers.display()))?;
    let script = |pkg: &str| {
        servers.join(format!(
            "node_modules/@modelcontextprotocol/{pkg}/dist/index.js"
        ))
    };
    for pkg in ["server-everything", "server-memory"] {
        if !script(pkg).is_file() {
            return Err(format!(
                "{} missing: run scripts/mcp-servers",
                script(pkg).display()
            ));
        }
    }
    let extra = format!(
        "[mcp.servers.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\nread_paths = [{:?}]\n\n\
         [mcp.servers.memory]\ncommand = \"node\"\nargs = [{:?}]\nread_paths = [{:?}]\n",
        script("server-everything").display().to_string(),
        servers.display().to_string(),
        script("server-memory").display().to_string(),
        servers.display().to_string(),
    );
    let setup = Setup {
        poll_timeout_secs: 30,
        extra: Box::leak(extra.into_boxed_str()),
    };
    let mut d = Daemon::start(bin, setup, &[])?;
    d.first_poll(START_WAIT)?;
    // Servers come up in the background; ask until their tools are offered.
    let mut out = McpLife::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = d.llm.requests().len();
        d.say("What is the capital of France?");
        d.wait_replies(d.tg.sent().len() + 1, START_WAIT)?;
        let reqs = d.llm.requests();
        let req = reqs.get(before).ok_or("no LLM request recorded")?;
        let names: Vec<String> = req.body["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t["function"]["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let has = |s: &str| names.iter().any(|n| n.starts_with(s));
        if has("mcp_everything_") && has("mcp_memory_") {
            out.first_request_bytes = match req.header("content-length") {
                Some(v) => v.parse::<f64>().map_err(|e| e.to_string())?,
                None => req.body.to_string().len() as f64,
            };
            out.tools = names.len();
            out.mcp_tools = names.iter().filter(|n| n.starts_with("mcp_")).count();
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "MCP tools never offered (got {names:?})\n{}",
                d.stderr()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let idle_until = Instant::now() + idle_for;
    std::thread::sleep(idle_until.saturating_duration_since(Instant::now()));
    out.idle_rss_kib = d.status_field("VmRSS")? as f64;
    out.idle_anon_kib = crate::harness::rss_split(d.pid())?.0 as f64;
    d.terminate(Duration::from_secs(15))?;
    Ok(out)
}

const PHOTO: Setup = Setup {
    poll_timeout_secs: 1,
    // Appended inside [[providers]]: the model takes pictures.
    extra: "vision = true\n",
};

/// Peak RSS (KiB) of a fresh daemon over a plain turn, then after a turn
/// for a Telegram photo of `bytes` (one size, within the default caps):
/// downloaded to inbox/ and sent to the vision model as a data URL.
pub fn photo_turn_peak(bin: &Path, bytes: usize) -> Res<(f64, f64)> {
    use picoclaw_testkit::fake_telegram::Incoming;
    let mut d = Daemon::start(bin, PHOTO, &[])?;
    d.first_poll(START_WAIT)?;
    d.say("hello");
    d.wait_replies(1, START_WAIT)?;
    let plain = d.status_field("VmHWM")? as f64;
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..bytes.saturating_sub(4)).map(|i| (i * 131 % 251) as u8));
    d.tg.put_file("bench-photo", jpeg);
    let sizes = serde_json::json!([{"file_id": "bench-photo", "file_unique_id": "bp",
        "width": 1280, "height": 960, "file_size": bytes}]);
    d.tg.push(
        Incoming::direct(crate::harness::USER, "bench")
            .media_with("photo", sizes)
            .text("what is it?"),
    );
    d.wait_replies(2, Duration::from_secs(60))?;
    let peak = d.status_field("VmHWM")? as f64;
    let reqs = d.llm.requests();
    let sent_image = reqs
        .last()
        .is_some_and(|r| r.body.to_string().contains("data:image/jpeg;base64,"));
    d.terminate(Duration::from_secs(15))?;
    if !sent_image {
        return Err(String::from(
            "the photo did not reach the model as an image part",
        ));
    }
    Ok((plain, peak))
}

/// Every built-in tool on, web_search included (it needs a search
/// backend; this one is never called).
const ALL_TOOLS: Setup = Setup {
    poll_timeout_secs: 1,
    extra: "[tools.web.search]\nprovider = \"searxng\"\nbase_url = \"http://127.0.0.1:9\"\n",
};

/// Bytes of the first chat request for a one-line message with every
/// built-in tool offered, and the tool names it offered.
pub fn first_request_all_tools(bin: &Path) -> Res<(f64, Vec<String>)> {
    let mut d = Daemon::start(bin, ALL_TOOLS, &[])?;
    d.first_poll(START_WAIT)?;
    d.say("What is the capital of France?");
    d.wait_replies(1, START_WAIT)?;
    let reqs = d.llm.requests();
    let first = reqs.first().ok_or("no LLM request recorded")?;
    let bytes = match first.header("content-length") {
        Some(v) => v.parse::<f64>().map_err(|e| e.to_string())?,
        None => first.body.to_string().len() as f64,
    };
    let names = first.body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    d.terminate(Duration::from_secs(15))?;
    Ok((bytes, names))
}

/// Peak RSS (KiB) of a daemon whose store holds `n` memories of the
/// bench user, after a plain turn and then after a turn whose one tool
/// call is a `memory_search` over all of them. Also returns the search's
/// reply, which must quote a hit.
pub fn memory_search_peak(bin: &Path, n: usize) -> Res<(f64, f64, String)> {
    let mut d = Daemon::start(bin, BUSY, &[])?;
    d.first_poll(START_WAIT)?;
    d.terminate(Duration::from_secs(15))?;
    fill_memories(&d.dir.join("state"), n)?;
    d.restart(bin, START_WAIT)?;
    d.say("hello");
    d.wait_replies(1, START_WAIT)?;
    let plain = d.status_field("VmHWM")? as f64;
    d.say(r#"[[call memory_search {"query":"sensor calibration","limit":10}]]"#);
    d.wait_replies(2, START_WAIT)?;
    let searched = d.status_field("VmHWM")? as f64;
    let reply =
        d.tg.sent()
            .get(1)
            .map(|m| m.visible.clone())
            .unwrap_or_default();
    d.terminate(Duration::from_secs(15))?;
    Ok((plain, searched, reply))
}

/// `n` memories in the bench user's scope, as `memory_save` writes them:
/// a few sentences each from a small vocabulary, so that a two-word query
/// matches a few hundred of them and BM25 has real work to rank.
fn fill_memories(state: &Path, n: usize) -> Res<()> {
    const WORDS: &[&str] = &[
        "garden",
        "sensor",
        "calibration",
        "invoice",
        "train",
        "birthday",
        "router",
        "firmware",
        "battery",
        "recipe",
        "meeting",
        "backup",
        "kernel",
        "weather",
        "doctor",
        "holiday",
        "password",
        "printer",
        "library",
        "concert",
        "budget",
        "garage",
        "bicycle",
        "camera",
    ];
    let store = picoclaw_store::Store::open(state, &picoclaw_store::StoreOptions::default())
        .map_err(|e| format!("open {}: {e}", state.display()))?;
    let scope = format!("telegram:{}", crate::harness::USER);
    // A fixed linear congruential sequence: the same corpus every run.
    let mut x: u64 = 0x2545_f491;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize % m
    };
    for i in 0..n {
        let mut text = format!("note {i}:");
        for _ in 0..(12 + next(24)) {
            text.push(' ');
            text.push_str(WORDS[next(WORDS.len())]);
        }
        let tags = WORDS[next(WORDS.len())];
        store
            .memory_save(&scope, &text, tags)
            .map_err(|e| format!("memory_save: {e}"))?;
    }
    Ok(())
}

/// `n` messages pushed at once through fakes that answer at once.
#[derive(Debug)]
pub struct Burst {
    pub per_message_ms: f64,
    /// The daemon's own CPU time (user + system, all threads) per message:
    /// what picoclaw costs apart from the fakes and the machine's load.
    pub cpu_per_message_ms: f64,
    /// VmRSS after the 100th reply and after the last one, KiB.
    pub rss_after_100_kib: f64,
    /// VmRSS after the 10,000th reply, when more were sent (the long soak).
    pub rss_after_10k_kib: Option<f64>,
    pub rss_end_kib: f64,
}

pub fn burst(bin: &Path, n: usize) -> Res<Burst> {
    let d = Daemon::start(bin, BUSY, &[])?;
    d.first_poll(START_WAIT)?;
    let start = Instant::now();
    let cpu_start = cpu_ms(d.pid())?;
    for i in 0..n {
        d.say(&format!("message {i}: how are you?"));
    }
    // Generous: a shared 2-core machine may be busy with builds.
    let timeout = Duration::from_secs(60) + Duration::from_millis(50 * n as u64);
    let early = n.min(100);
    d.wait_replies(early, timeout)?;
    let rss_after_100_kib = d.status_field("VmRSS")? as f64;
    let rss_after_10k_kib = if n > 10_000 {
        d.wait_replies(10_000, timeout)?;
        Some(d.status_field("VmRSS")? as f64)
    } else {
        None
    };
    d.wait_replies(n, timeout)?;
    let wall = start.elapsed();
    let cpu = cpu_ms(d.pid())? - cpu_start;
    let rss_end_kib = d.status_field("VmRSS")? as f64;
    Ok(Burst {
        per_message_ms: ms(wall) / n as f64,
        cpu_per_message_ms: cpu / n as f64,
        rss_after_100_kib,
        rss_after_10k_kib,
        rss_end_kib,
    })
}

/// utime + stime of process `pid` (all its threads) in milliseconds, from
/// /proc/PID/stat (clock ticks of 1/100 s on Linux).
fn cpu_ms(pid: u32) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name may hold spaces; fields start after its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    Ok((tick(11) + tick(12)) * 10.0)
}

/// Runs the sandbox crate's `spawn_overhead` example once; returns the
/// added milliseconds (sandboxed median − plain median).
pub fn sandbox_overhead(example: &Path, iterations: usize) -> Res<f64> {
    let out = Command::new(example)
        .arg(iterations.to_string())
        .output()
        .map_err(|e| format!("{}: {e}", example.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "spawn_overhead failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("added:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| format!("no 'added:' line in spawn_overhead output:\n{text}"))
}

/// The enforcement label the example printed ("landlock+seccomp..."), for
/// the notes.
pub fn sandbox_label(example: &Path) -> String {
    Command::new(example)
        .arg("3")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().find(|l| l.starts_with("sandboxed spawn:"))?;
            let open = line.find('[')?;
            Some(line[open + 1..].trim_end_matches(']').to_string())
        })
        .unwrap_or_default()
}

/// Total instructions callgrind counted for a daemon that starts, answers
/// `n` one-line messages and stops on SIGTERM.
pub fn callgrind_instructions(bin: &Path, n: usize) -> Res<u64> {
    let out_file =
        std::env::temp_dir().join(format!("picoclaw-bench-cg-{}-{n}.out", std::process::id()));
    let _ = std::fs::remove_file(&out_file);
    let wrapper = vec![
        String::from("valgrind"),
        String::from("--tool=callgrind"),
        String::from("--quiet"),
        format!("--callgrind-out-file={}", out_file.display()),
    ];
    let mut d = Daemon::start(bin, BUSY, &wrapper)?;
    d.first_poll(Duration::from_secs(120))?;
    for i in 0..n {
        d.say(&format!("message {i}: how are you?"));
    }
    d.wait_replies(
        n,
        Duration::from_secs(60) + Duration::from_secs(2 * n as u64),
    )?;
    d.terminate(Duration::from_secs(120))?;
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("callgrind output {}: {e}", out_file.display()))?;
    // PICOCLAW_BENCH_KEEP=1 keeps the profile for callgrind_annotate (run
    // the bench on the release-symbols build to get function names).
    if std::env::var_os("PICOCLAW_BENCH_KEEP").is_some() {
        eprintln!("callgrind profile kept: {}", out_file.display());
    } else {
        let _ = std::fs::remove_file(&out_file);
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| String::from("no summary line in callgrind output"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Telegram and Discord both connected: idle RSS, and how long a silent
/// gateway connection lasts before a new one is dialled.
#[derive(Debug, Default)]
pub struct Discord {
    pub idle_rss_kib: f64,
    pub idle_threads: f64,
    /// Heartbeat ACKs stop (interval 1 s) → the next socket is open.
    pub no_ack_redial_ms: f64,
    /// A socket that never says HELLO (gateway_timeout_secs = 1) → the
    /// next socket is open.
    pub no_hello_redial_ms: f64,
}

pub fn discord(bin: &Path, idle_for: Duration) -> Res<Discord> {
    use picoclaw_testkit::fake_discord::FakeDiscord;
    let mut out = Discord::default();
    {
        let dc = FakeDiscord::start(crate::harness::DISCORD_TOKEN);
        let mut d = Daemon::start_with_discord(bin, IDLE, dc, 20)?;
        d.first_poll(START_WAIT)?;
        let dc = d.dc.as_ref().ok_or("no fake Discord")?;
        if !dc.wait_for_ready(1, START_WAIT) {
            return Err(format!("Discord never READY\n{}", d.stderr()));
        }
        let idle_until = d.spawned + idle_for;
        std::thread::sleep(idle_until.saturating_duration_since(Instant::now()));
        out.idle_rss_kib = d.status_field("VmRSS")? as f64;
        out.idle_threads = d.status_field("Threads")? as f64;
        d.terminate(Duration::from_secs(15))?;
    }
    let dc = FakeDiscord::start(crate::harness::DISCORD_TOKEN);
    dc.set_heartbeat_interval(Duration::from_secs(1));
    let mut d = Daemon::start_with_discord(bin, IDLE, dc, 1)?;
    let dc = d.dc.as_ref().ok_or("no fake Discord")?;
    if !dc.wait_for_ready(1, START_WAIT) {
        return Err(format!("Discord never READY\n{}", d.stderr()));
    }
    let n = dc.connections().len();
    let silent = Instant::now();
    dc.set_acks(false);
    if !dc.wait(START_WAIT, |f| f.connections().len() > n) {
        return Err(String::from("no new socket after ACKs stopped"));
    }
    out.no_ack_redial_ms = ms(dc.connection_times()[n].saturating_duration_since(silent));
    dc.set_acks(true);
    if !dc.wait_for_ready(2, START_WAIT) {
        return Err(String::from("no RESUMED after ACKs came back"));
    }
    // The next socket says nothing at all.
    dc.set_hello(false);
    let n = dc.connections().len();
    dc.drop_connections();
    if !dc.wait(START_WAIT, |f| f.connections().len() > n + 1) {
        return Err(String::from("the silent socket was never replaced"));
    }
    let times = dc.connection_times();
    out.no_hello_redial_ms = ms(times[n + 1] - times[n]);
    dc.set_hello(true);
    d.terminate(Duration::from_secs(15))?;
    Ok(out)
}
