//! Soak (issue 7): many messages with mixed tool use; memory stays bounded
//! and no file descriptor or thread leaks. The full 10,000-message run is
//! `#[ignore]`d (it takes over five minutes); a 300-message run is not.

use std::time::{Duration, Instant};

use crate::util::*;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The i-th soak message: mostly plain, every 10th uses the file tools,
/// every 50th runs a sandboxed command.
fn message(i: usize) -> String {
    if i % 50 == 49 {
        format!(r#"soak {i} [[call exec {{"command":"echo s{i}"}}]]"#)
    } else if i % 10 == 9 {
        format!(
            r#"soak {i} [[call write_file {{"path":"soak/{}.txt","content":"v{i}"}}]] [[call read_file {{"path":"soak/{}.txt"}}]]"#,
            i % 7,
            i % 7
        )
    } else {
        format!("soak {i}")
    }
}

struct Sample {
    fds: usize,
    threads: u64,
    rss_kib: u64,
}

fn sample(pid: u32) -> Sample {
    Sample {
        fds: fds(pid),
        threads: status(pid, "Threads"),
        rss_kib: status(pid, "VmRSS"),
    }
}

/// Sends `n` messages at `per_sec` (0: all at once), sampling RSS every
/// second; returns (baseline after warm-up, max RSS seen, settled end).
fn soak(p: &mut Picoclaw, n: usize, per_sec: usize) -> (Sample, u64, Sample) {
    p.start();
    // Warm-up: one of each kind, so pools, caches and the blocking threads
    // a busy daemon keeps are all in place before the baseline.
    for i in [0, 9, 49] {
        p.say(&message(i));
    }
    p.replies(3);
    let pid = p.pid();
    let base = settled(pid);
    let mut max_rss = base.rss_kib;
    let mut last_sample = Instant::now();
    let started = Instant::now();
    for i in 0..n {
        p.say(&message(i));
        if per_sec > 0 {
            let due = started + Duration::from_secs_f64(i as f64 / per_sec as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            max_rss = max_rss.max(status(pid, "VmRSS"));
            last_sample = Instant::now();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60) + Duration::from_millis(20 * n as u64);
    while p.tg.sent().len() < n + 3 && Instant::now() < deadline {
        max_rss = max_rss.max(status(pid, "VmRSS"));
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(
        p.tg.sent().len(),
        n + 3,
        "every message answered once\n{}",
        p.stderr()
    );
    (base, max_rss, settled(pid))
}

/// A sample taken once idle: tokio's blocking threads retire after 10 s
/// unused and idle keep-alive connections close, so wait for the counts to
/// stop falling.
fn settled(pid: u32) -> Sample {
    let mut s = sample(pid);
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1));
        let next = sample(pid);
        if next.threads == s.threads && next.fds == s.fds {
            return next;
        }
        s = next;
    }
    s
}

fn check(base: &Sample, max_rss: u64, end: &Sample, rss_slack_kib: u64) {
    assert!(
        end.fds <= base.fds + 2,
        "fd leak: {} at start, {} at end",
        base.fds,
        end.fds
    );
    // The daemon caps tokio's blocking pool at 8 threads (+ main).
    assert!(
        end.threads <= base.threads.max(9),
        "thread leak: {} at start, {} at end",
        base.threads,
        end.threads
    );
    assert!(
        max_rss <= base.rss_kib + rss_slack_kib,
        "RSS grew from {} KiB to a peak of {max_rss} KiB",
        base.rss_kib
    );
}

#[test]
fn three_hundred_mixed_messages_leak_no_fds_or_threads_and_keep_rss_bounded() {
    let mut p = Picoclaw::new("soak-short");
    let (base, max_rss, end) = soak(&mut p, 300, 0);
    // Debug-profile binary; 4 MiB of slack covers SQLite's page cache
    // (2 MiB by default) filling up and allocator fragmentation.
    check(&base, max_rss, &end, 4096);
}

#[test]
#[ignore = "full soak: 10,000 messages over more than five minutes; run with --ignored"]
fn ten_thousand_messages_over_five_minutes_stay_within_budget() {
    let mut p = Picoclaw::new("soak-full");
    let t = Instant::now();
    // 33 messages a second: 10,000 take just over five minutes.
    let (base, max_rss, end) = soak(&mut p, 10_000, 33);
    eprintln!(
        "soak: {:?}, base {} KiB, peak {max_rss} KiB, end {} KiB, fds {}→{}, threads {}→{}",
        t.elapsed(),
        base.rss_kib,
        end.rss_kib,
        base.fds,
        end.fds,
        base.threads,
        end.threads
    );
    check(&base, max_rss, &end, 4096);
}
