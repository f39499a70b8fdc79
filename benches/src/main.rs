//! `picoclaw-bench`: measures the release binary against the fake Telegram
//! and LLM servers (in this process, on 127.0.0.1) and prints a markdown
//! table of metric, median (min–max) of repeated runs, budget and verdict.
//! `scripts/bench` builds everything and calls it; see `--help`.
//!
//! It reports; it does not fail on a missed budget (shared machines are
//! noisy). Only the binary size is enforced, by `scripts/size-check`.

mod harness;
mod measure;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use report::{Budget, Row, Stats, Unit};

const USAGE: &str = "\
picoclaw-bench --bin PATH [options]

  --bin PATH             release picoclaw binary to drive (required)
  --musl PATH            x86_64-musl binary, for the size row
  --size LABEL=PATH      another binary for a size row (e.g. riscv64=...)
  --spawn-overhead PATH  the sandbox crate's spawn_overhead example binary
  --runs N               repetitions per metric (default 5, at least 5
                         unless --quick)
  --quick                fewer messages (CI): 1,000 for RSS growth, 200 for
                         the per-message overhead
  --growth-messages N    messages for the RSS growth row (default 10,000;
                         1,000 with --quick); 100000 is the long soak
  --mcp-servers DIR      where scripts/mcp-servers installed the npm MCP
                         reference servers (default target/mcp-servers)
  --no-callgrind         skip the valgrind instruction count
  --out PATH             also write the report here
  --check                exit 1 when a row misses its budget (CI runs the
                         1,000-message musl growth row this way)
  --only GROUPS          comma-separated subset: size,life,tls,discord,
                         overhead,sandbox,growth,web,photo,memory,mcp,
                         callgrind (default: all)
";

struct Opts {
    bin: PathBuf,
    sizes: Vec<(String, PathBuf, f64)>,
    spawn_overhead: Option<PathBuf>,
    mcp_servers: PathBuf,
    runs: usize,
    quick: bool,
    growth_messages: Option<usize>,
    callgrind: bool,
    out: Option<PathBuf>,
    only: Option<Vec<String>>,
    check: bool,
}

impl Opts {
    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|g| g.iter().any(|x| x == group))
    }
}

const MB4: f64 = 4.0 * 1_048_576.0;
const MB3_5: f64 = 3.5 * 1_048_576.0;

fn parse_args() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mut bin = None;
    let mut sizes = Vec::new();
    let mut opts = Opts {
        bin: PathBuf::new(),
        sizes: Vec::new(),
        spawn_overhead: None,
        mcp_servers: PathBuf::from("target/mcp-servers"),
        runs: 5,
        quick: false,
        growth_messages: None,
        callgrind: true,
        out: None,
        only: None,
        check: false,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bin" => bin = Some(PathBuf::from(value()?)),
            "--musl" => sizes.push((String::from("x86_64-musl"), PathBuf::from(value()?), MB4)),
            "--size" => {
                let v = value()?;
                let (label, path) = v.split_once('=').ok_or("--size wants LABEL=PATH")?;
                let budget = if label.starts_with("riscv64") {
                    MB3_5
                } else {
                    MB4
                };
                sizes.push((label.to_string(), PathBuf::from(path), budget));
            }
            "--spawn-overhead" => opts.spawn_overhead = Some(PathBuf::from(value()?)),
            "--mcp-servers" => opts.mcp_servers = PathBuf::from(value()?),
            "--runs" => opts.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--quick" => opts.quick = true,
            "--growth-messages" => {
                let n: usize = value()?
                    .parse()
                    .map_err(|e| format!("--growth-messages: {e}"))?;
                if n < 200 {
                    return Err(String::from("--growth-messages must be at least 200"));
                }
                opts.growth_messages = Some(n);
            }
            "--no-callgrind" => opts.callgrind = false,
            "--check" => opts.check = true,
            "--out" => opts.out = Some(PathBuf::from(value()?)),
            "--only" => {
                opts.only = Some(value()?.split(',').map(str::to_string).collect());
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    opts.bin = bin.ok_or("--bin is required")?;
    if !opts.quick && opts.runs < 5 {
        return Err(String::from("--runs must be at least 5 (or use --quick)"));
    }
    opts.runs = opts.runs.max(1);
    // Name the driven binary by what it is: static (musl) or dynamic (gnu).
    let linkage = match std::fs::read(&opts.bin) {
        Ok(bytes) if !bytes.windows(16).any(|w| w == b"/lib64/ld-linux-") => "musl",
        _ => "gnu",
    };
    let mut all = vec![(
        format!("{}-{linkage}", std::env::consts::ARCH),
        opts.bin.clone(),
        MB4,
    )];
    all.extend(sizes);
    opts.sizes = all;
    Ok(opts)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("picoclaw-bench: {e}\n");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let rows = run(&opts);
    let table = report::table(&rows);
    let doc = format!(
        "# picoclaw benchmarks\n\n{}\n{table}\n{}",
        header(&opts, started.elapsed()),
        NOTES
    );
    println!("{doc}");
    if let Some(path) = &opts.out {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(path, &doc) {
            eprintln!("picoclaw-bench: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("picoclaw-bench: wrote {}", path.display());
    }
    if opts.check {
        let missed: Vec<&str> = rows
            .iter()
            .filter(|r| r.verdict() == "FAIL")
            .map(|r| r.metric.as_str())
            .collect();
        if !missed.is_empty() {
            eprintln!("picoclaw-bench: over budget: {}", missed.join("; "));
            std::process::exit(1);
        }
    }
}

fn progress(what: &str) {
    eprintln!("picoclaw-bench: {what}");
}

fn run(opts: &Opts) -> Vec<Row> {
    let mut rows = Vec::new();
    if opts.wants("size") {
        rows.extend(size_rows(opts));
    }
    // Lives give several rows that the issue lists apart; keep its order.
    let mut life = if opts.wants("life") {
        life_rows(opts)
    } else {
        Vec::new()
    };
    let mut take = |n: usize| -> Vec<Row> { life.drain(..n.min(life.len())).collect() };
    // start-up (restart, first start), idle RSS, peak RSS
    rows.extend(take(4));
    if opts.wants("discord") {
        rows.extend(discord_rows(opts));
    }
    // The same over TLS, the board's real case.
    if opts.wants("tls") {
        rows.extend(tls_rows(opts));
    }
    if opts.wants("overhead") {
        rows.extend(overhead_rows(opts));
    }
    if opts.wants("sandbox") {
        rows.push(sandbox_row(opts));
    }
    if opts.wants("growth") {
        rows.extend(growth_rows(opts));
    }
    if opts.wants("web") {
        rows.push(web_row(opts));
    }
    if opts.wants("photo") {
        rows.push(photo_row(opts));
    }
    if opts.wants("memory") {
        rows.push(memory_row(opts));
    }
    if opts.wants("mcp") {
        rows.extend(mcp_rows(opts));
    }
    // request bytes, LLM calls, idle threads
    rows.extend(take(1));
    if opts.wants("life") {
        rows.push(all_tools_row(opts));
    }
    rows.extend(take(2));
    if opts.wants("callgrind") {
        rows.push(callgrind_row(opts));
    }
    rows
}

fn size_rows(opts: &Opts) -> Vec<Row> {
    opts.sizes
        .iter()
        .map(|(label, path, budget)| {
            let value = std::fs::metadata(path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|m| {
                    Stats::of(&[m.len() as f64]).ok_or_else(|| String::from("no sample"))
                });
            row(
                &format!("stripped binary size, {label}"),
                value,
                Unit::Bytes,
                Budget::AtMost(*budget),
                "1 MB = 1 MiB here",
            )
        })
        .collect()
}

/// Start-up, idle, one plain message, one two-tool turn: six rows, the
/// first three and last three of the middle section.
fn life_rows(opts: &Opts) -> Vec<Row> {
    let mut lives = Vec::new();
    let mut life_err = None;
    for i in 0..opts.runs {
        progress(&format!(
            "start-up / idle / turn run {}/{} (10 s idle each)",
            i + 1,
            opts.runs
        ));
        match measure::life(&opts.bin, Duration::from_secs(10)) {
            Ok(l) => lives.push(l),
            Err(e) => life_err = Some(e),
        }
    }
    let col = |f: fn(&measure::Life) -> f64| -> Result<Stats, String> {
        let v: Vec<f64> = lives.iter().map(f).collect();
        Stats::of(&v).ok_or_else(|| life_err.clone().unwrap_or_default())
    };
    // The fake model answers a tool result with "done: " + its first 40
    // characters; an exec result starts with its exit status.
    let exec_note = match lives.first() {
        Some(l) if l.tool_reply.starts_with("done: exit 0") => String::from("exec ran sandboxed"),
        Some(l) => format!("exec did not succeed: reply {:?}", l.tool_reply),
        None => String::new(),
    };
    vec![
        row(
            "exec → first getUpdates at the fake (restart, existing DB)",
            col(|l| l.restart_poll_ms),
            Unit::Ms,
            Budget::AtMost(20.0),
            "",
        ),
        row(
            "exec → first getUpdates at the fake (first start, creates the DB)",
            col(|l| l.first_poll_ms),
            Unit::Ms,
            Budget::Report,
            "one-time schema creation",
        ),
        row(
            "idle RSS (VmRSS) 10 s after start, polling",
            col(|l| l.idle_rss_kib),
            Unit::KiB,
            Budget::AtMost(4096.0),
            &rss_split_note(&lives),
        ),
        row(
            "peak RSS (VmHWM) over a turn with 2 tool calls incl. sandboxed exec",
            col(|l| l.peak_rss_kib),
            Unit::KiB,
            Budget::AtMost(8192.0),
            &exec_note,
        ),
        row(
            "bytes of the first LLM request (one-line message, default tools)",
            col(|l| l.first_request_bytes),
            Unit::Bytes,
            Budget::AtMost(8192.0),
            "",
        ),
        row(
            "LLM calls for a message that needs no tool",
            col(|l| l.llm_calls_no_tool),
            Unit::Count,
            Budget::Exactly(1.0),
            "",
        ),
        row(
            "threads while idle",
            col(|l| l.idle_threads),
            Unit::Count,
            Budget::Report,
            "",
        ),
    ]
}

/// Telegram + Discord: idle RSS, and the silent-connection detection
/// times of the Discord gateway.
fn discord_rows(opts: &Opts) -> Vec<Row> {
    let mut runs = Vec::new();
    let mut err = None;
    for i in 0..opts.runs {
        progress(&format!("telegram + discord run {}/{}", i + 1, opts.runs));
        match measure::discord(&opts.bin, Duration::from_secs(10)) {
            Ok(r) => runs.push(r),
            Err(e) => err = Some(e),
        }
    }
    let col = |f: fn(&measure::Discord) -> f64| -> Result<Stats, String> {
        let v: Vec<f64> = runs.iter().map(f).collect();
        Stats::of(&v).ok_or_else(|| err.clone().unwrap_or_default())
    };
    vec![
        row(
            "idle RSS (VmRSS) 10 s after start, Telegram and Discord both connected",
            col(|r| r.idle_rss_kib),
            Unit::KiB,
            Budget::Report,
            "",
        ),
        row(
            "threads while idle, Telegram and Discord",
            col(|r| r.idle_threads),
            Unit::Count,
            Budget::Report,
            "",
        ),
        row(
            "Discord: heartbeat ACKs stop → next gateway socket (interval 1 s)",
            col(|r| r.no_ack_redial_ms),
            Unit::Ms,
            Budget::Report,
            "≤ 2 intervals + 0.5–1 s backoff; Discord's interval is 41.25 s",
        ),
        row(
            "Discord: socket never says HELLO → next socket (gateway_timeout_secs 1)",
            col(|r| r.no_hello_redial_ms),
            Unit::Ms,
            Budget::Report,
            "timeout + backoff (grows while sockets keep failing); default timeout 20 s",
        ),
    ]
}

/// Restart time, idle RSS (anonymous vs file-backed) and peak RSS with
/// both fakes over HTTPS, as on a board talking to api.telegram.org.
fn tls_rows(opts: &Opts) -> Vec<Row> {
    let mut lives = Vec::new();
    let mut life_err = None;
    for i in 0..opts.runs {
        progress(&format!(
            "TLS start-up / idle / turn run {}/{} (10 s idle each)",
            i + 1,
            opts.runs
        ));
        match measure::life_over(&opts.bin, Duration::from_secs(10), harness::Wire::Https) {
            Ok(l) => lives.push(l),
            Err(e) => life_err = Some(e),
        }
    }
    let col = |f: fn(&measure::Life) -> f64| -> Result<Stats, String> {
        let v: Vec<f64> = lives.iter().map(f).collect();
        Stats::of(&v).ok_or_else(|| life_err.clone().unwrap_or_default())
    };
    let split = rss_split_note(&lives);
    let exec_note = match lives.first() {
        Some(l) if l.tool_reply.starts_with("done: exit 0") => String::from("exec ran sandboxed"),
        Some(l) => format!("exec did not succeed: reply {:?}", l.tool_reply),
        None => String::new(),
    };
    vec![
        row(
            "exec → first getUpdates over TLS (restart, existing DB)",
            col(|l| l.restart_poll_ms),
            Unit::Ms,
            Budget::AtMost(25.0),
            "one full handshake (getMe), getUpdates reuses it",
        ),
        row(
            "idle RSS (VmRSS) 10 s after start, long-polling over TLS",
            col(|l| l.idle_rss_kib),
            Unit::KiB,
            Budget::AtMost(4096.0),
            &split,
        ),
        row(
            "peak RSS (VmHWM) over a turn with 2 tool calls, over TLS",
            col(|l| l.peak_rss_kib),
            Unit::KiB,
            Budget::AtMost(6144.0),
            &exec_note,
        ),
    ]
}

/// "anonymous N KiB + file-backed M KiB" of the idle RSS, medians.
fn rss_split_note(lives: &[measure::Life]) -> String {
    let anon: Vec<f64> = lives.iter().map(|l| l.idle_anon_kib).collect();
    let file: Vec<f64> = lives.iter().map(|l| l.idle_file_kib).collect();
    match (Stats::of(&anon), Stats::of(&file)) {
        (Some(a), Some(f)) => format!(
            "anonymous {:.0} KiB + file-backed {:.0} KiB (smaps_rollup, medians)",
            a.median, f.median
        ),
        _ => String::new(),
    }
}

fn message_counts(opts: &Opts) -> (usize, usize) {
    if opts.quick {
        (200, 1_000)
    } else {
        (500, 10_000)
    }
}

fn overhead_rows(opts: &Opts) -> Vec<Row> {
    let (n, _) = message_counts(opts);
    let mut over = Vec::new();
    let mut cpu = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!(
            "overhead run {}/{} ({n} messages)",
            i + 1,
            opts.runs
        ));
        match measure::burst(&opts.bin, n) {
            Ok(b) => {
                over.push(b.per_message_ms);
                cpu.push(b.cpu_per_message_ms);
            }
            Err(e) => err = e,
        }
    }
    vec![
        row(
            "agent-loop overhead per message (wall / N, instant fakes)",
            Stats::of(&over).ok_or(err.clone()),
            Unit::Ms,
            Budget::AtMost(1.0),
            &format!("N = {n}, one chat, pushed at once; includes the fakes' work and the machine's load"),
        ),
        row(
            "picoclaw CPU time per message (utime + stime / N, same runs)",
            Stats::of(&cpu).ok_or(err),
            Unit::Ms,
            Budget::Report,
            "the daemon alone, all threads",
        ),
    ]
}

/// RSS growth after the first 100 messages, and for the long soak (more
/// than 10,000 messages) from the 10,000th on.
fn growth_rows(opts: &Opts) -> Vec<Row> {
    let n = opts.growth_messages.unwrap_or(message_counts(opts).1);
    let mut growth = Vec::new();
    let mut soak = Vec::new();
    let mut per = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!(
            "RSS growth run {}/{} ({n} messages)",
            i + 1,
            opts.runs
        ));
        match measure::burst(&opts.bin, n) {
            Ok(b) => {
                growth.push(b.rss_end_kib - b.rss_after_100_kib);
                if let Some(at_10k) = b.rss_after_10k_kib {
                    soak.push(b.rss_end_kib - at_10k);
                }
                per.push(b.per_message_ms);
            }
            Err(e) => err = e,
        }
    }
    let mut note = match Stats::of(&per) {
        Some(s) => format!("{:.3} ms/message over these runs", s.median),
        None => String::new(),
    };
    if n < 10_000 {
        note.push_str("; fewer messages than the budget's 10,000");
    }
    let mut rows = vec![row(
        &format!("RSS growth after {n} messages (VmRSS end − after 100)"),
        Stats::of(&growth).ok_or(err.clone()),
        Unit::KiB,
        Budget::AtMost(1024.0),
        &note,
    )];
    if n > 10_000 {
        rows.push(row(
            &format!("RSS growth from 10000 to {n} messages (long soak)"),
            Stats::of(&soak).ok_or(err),
            Unit::KiB,
            Budget::AtMost(1024.0),
            "VmRSS end − after 10000, same runs",
        ));
    }
    rows
}

fn web_row(opts: &Opts) -> Row {
    let mut fetched = Vec::new();
    let mut grew = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!("web_fetch of a 2 MB page {}/{}", i + 1, opts.runs));
        match measure::web_fetch_peak(&opts.bin, 2_000_000) {
            Ok((plain, peak)) => {
                fetched.push(peak);
                grew.push(peak - plain);
            }
            Err(e) => err = e,
        }
    }
    let note = Stats::of(&grew)
        .map(|s| {
            format!(
                "{:.0} KiB above the same daemon's peak after a plain turn (median)",
                s.median
            )
        })
        .unwrap_or_default();
    row(
        "peak RSS (VmHWM) over a turn that web_fetches a 2 MB HTML page",
        Stats::of(&fetched).ok_or(err),
        Unit::KiB,
        Budget::Report,
        &note,
    )
}

/// A turn for a 5 MB photo sent to a vision model: the download is
/// streamed to disk, the picture read back once and base64-encoded into
/// the request body.
fn photo_row(opts: &Opts) -> Row {
    let mut peaks = Vec::new();
    let mut grew = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!("a 5 MB photo turn {}/{}", i + 1, opts.runs));
        match measure::photo_turn_peak(&opts.bin, 5_000_000) {
            Ok((plain, peak)) => {
                peaks.push(peak);
                grew.push(peak - plain);
            }
            Err(e) => err = e,
        }
    }
    let note = Stats::of(&grew)
        .map(|s| {
            format!(
                "{:.0} KiB above the same daemon's peak after a plain turn (median)",
                s.median
            )
        })
        .unwrap_or_default();
    row(
        "peak RSS (VmHWM) over a turn that downloads a 5 MB photo for a vision model",
        Stats::of(&peaks).ok_or(err),
        Unit::KiB,
        Budget::Report,
        &note,
    )
}

/// 10,000 memories: what one `memory_search` over all of them costs in
/// peak RSS (SQLite's FTS5 over the page cache, the hits, the reply).
fn memory_row(opts: &Opts) -> Row {
    const N: usize = 10_000;
    let mut peaks = Vec::new();
    let mut grew = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!(
            "memory_search over {N} memories {}/{}",
            i + 1,
            opts.runs
        ));
        match measure::memory_search_peak(&opts.bin, N) {
            // The fake model answers a tool result with "done: " and its
            // first characters; a hit list starts with the memory's id.
            Ok((_, _, reply)) if !reply.starts_with("done: #") => {
                err = format!("memory_search found nothing: reply {reply:?}");
            }
            Ok((plain, peak, _)) => {
                peaks.push(peak);
                grew.push(peak - plain);
            }
            Err(e) => err = e,
        }
    }
    let note = Stats::of(&grew)
        .map(|s| {
            format!(
                "{:.0} KiB above the same daemon's peak after a plain turn (median)",
                s.median
            )
        })
        .unwrap_or_default();
    row(
        "peak RSS (VmHWM) over a turn that runs memory_search over 10,000 memories",
        Stats::of(&peaks).ok_or(err),
        Unit::KiB,
        Budget::Report,
        &format!("{note}; SQLite's page cache is capped by [store] cache_size_kib"),
    )
}

/// Two real MCP servers (server-everything and server-memory from npm,
/// sandboxed like exec): picoclaw's own idle RSS with both connected, and
/// the first request with everything's tools offered.
fn mcp_rows(opts: &Opts) -> Vec<Row> {
    let mut rss = Vec::new();
    let mut bytes = Vec::new();
    let mut note = String::new();
    let mut err = String::new();
    for i in 0..opts.runs.min(3) {
        progress(&format!(
            "two MCP servers connected {}/{}",
            i + 1,
            opts.runs.min(3)
        ));
        match measure::mcp_life(&opts.bin, &opts.mcp_servers, Duration::from_secs(10)) {
            Ok(m) => {
                rss.push(m.idle_rss_kib);
                bytes.push(m.first_request_bytes);
                note = format!(
                    "anonymous {:.0} KiB; {} tools offered, {} from MCP",
                    m.idle_anon_kib, m.tools, m.mcp_tools
                );
            }
            Err(e) => err = e,
        }
    }
    vec![
        row(
            "idle RSS (VmRSS) with two stdio MCP servers connected (picoclaw only)",
            Stats::of(&rss).ok_or(err.clone()),
            Unit::KiB,
            Budget::Report,
            &note,
        ),
        row(
            "bytes of the first LLM request with server-everything's tools offered",
            Stats::of(&bytes).ok_or(err),
            Unit::Bytes,
            Budget::Report,
            "its JSON Schemas pass through unchanged; enabled_tools narrows them",
        ),
    ]
}

/// The first request with every built-in tool offered (web_search too).
fn all_tools_row(opts: &Opts) -> Row {
    let mut bytes = Vec::new();
    let mut names = Vec::new();
    let mut err = String::new();
    for _ in 0..opts.runs.min(3) {
        match measure::first_request_all_tools(&opts.bin) {
            Ok((b, n)) => {
                bytes.push(b);
                names = n;
            }
            Err(e) => err = e,
        }
    }
    row(
        "bytes of the first LLM request (one-line message, every built-in tool)",
        Stats::of(&bytes).ok_or(err),
        Unit::Bytes,
        Budget::AtMost(8192.0),
        &format!("{} tools: {}", names.len(), names.join(", ")),
    )
}

fn row(metric: &str, value: Result<Stats, String>, unit: Unit, budget: Budget, note: &str) -> Row {
    Row {
        metric: metric.to_string(),
        value,
        unit,
        budget,
        note: note.to_string(),
    }
}

fn sandbox_row(opts: &Opts) -> Row {
    let metric = "sandboxed spawn+wait of /bin/true minus plain";
    let Some(example) = &opts.spawn_overhead else {
        return row(
            metric,
            Err(String::from("no --spawn-overhead binary given")),
            Unit::Ms,
            Budget::AtMost(2.0),
            "",
        );
    };
    let mut added = Vec::new();
    let mut err = String::new();
    for i in 0..opts.runs {
        progress(&format!("sandbox spawn run {}/{}", i + 1, opts.runs));
        match measure::sandbox_overhead(example, 100) {
            Ok(ms) => added.push(ms),
            Err(e) => err = e,
        }
    }
    let label = measure::sandbox_label(example);
    row(
        metric,
        Stats::of(&added).ok_or(err),
        Unit::Ms,
        Budget::AtMost(2.0),
        &format!("each run: median of 100 interleaved pairs; {label}"),
    )
}

fn callgrind_row(opts: &Opts) -> Row {
    let metric = "instructions per message (callgrind)";
    let (a, b) = if opts.quick { (10, 40) } else { (20, 120) };
    let value = if !opts.callgrind {
        Err(String::from("skipped (--no-callgrind)"))
    } else {
        progress(&format!("callgrind: {a} and {b} messages (slow)"));
        // Two runs differing only in message count: the difference divided
        // by the count difference cancels start-up and shutdown.
        measure::callgrind_instructions(&opts.bin, a).and_then(|ia| {
            let ib = measure::callgrind_instructions(&opts.bin, b)?;
            let per = (ib as f64 - ia as f64) / (b - a) as f64;
            Stats::of(&[per]).ok_or_else(|| String::from("no sample"))
        })
    };
    row(
        metric,
        value,
        Unit::Instructions,
        Budget::Report,
        &format!("(I({b}) − I({a})) / {}; one run each, deterministic", b - a),
    )
}

fn header(opts: &Opts, took: Duration) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rev = std::env::var("PICOCLAW_BENCH_REV").unwrap_or_else(|_| String::from("unknown"));
    let date = std::env::var("PICOCLAW_BENCH_DATE").unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, Linux {kernel}. Commit {rev}. {date}\n\
         Mode: {}, {} runs per metric, took {} s. Binary: {}\n",
        if opts.quick { "--quick" } else { "full" },
        opts.runs,
        took.as_secs(),
        opts.bin.display(),
    )
}

const NOTES: &str = "
How each row is measured (`benches/src`):
- size: file size of the stripped release binary.
- exec → first getUpdates: spawn() to the fake counting the first getUpdates
  request (start-up includes config load, DB open/migrate and getMe).
- idle RSS / threads: /proc/PID/status VmRSS and Threads, 10 s after spawn,
  long poll parked (poll_timeout_secs = 30).
- peak RSS: VmHWM after a turn in which the model calls write_file then exec
  (`cat`, in the sandbox), over the whole life of the process.
- over TLS: the same life with both fakes on HTTPS (a CA made per run,
  trusted through `[http] ca_file`, on top of the built-in webpki roots);
  anonymous vs file-backed from /proc/PID/smaps_rollup (file-backed =
  Rss − Anonymous: the static binary's own pages).
- web_fetch peak: VmHWM of a fresh daemon after a turn whose one tool call
  fetches a 2,000,000-byte HTML page from a page server on 127.0.0.1
  (allowed by tools.web.allow_private); the note gives the growth over the
  same daemon's VmHWM after a plain turn just before.
- overhead: N one-line messages pushed at once, fakes answer instantly,
  poll_timeout_secs = 1; wall time from the first push to the last reply / N.
  It includes the fakes' own work and the full SQLite write path.
- RSS growth: same set-up; VmRSS after the last reply − after the 100th
  (and, for more than 10,000 messages, − after the 10,000th). Why musl grew
  and what fixed it: benches/results/rss-growth.md.
- first request bytes: Content-Length of the first chat/completions request.
- callgrind: the daemon under `valgrind --tool=callgrind`, whole process.
- Telegram + Discord: the fake Discord beside the fake Telegram; idle RSS as
  above once the gateway is READY (heartbeat interval 41.25 s as Discord's).
  Detection: a second daemon with heartbeat interval 1 s and
  gateway_timeout_secs = 1; from the moment ACKs stop (or the previous
  socket opened) to the fake accepting the next socket.
";
