//! `cargo run --release -p picoclaw-sandbox --example spawn_overhead [N]`
//!
//! Median wall time of spawn+wait for `/bin/true`, plain versus inside the
//! full sandbox (ruleset build, seccomp compile, tmp dir, fork, child
//! setup, exec, pipe drain), interleaved in one run so both see the same
//! machine load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use picoclaw_core::Cancel;
use picoclaw_sandbox::{probe, run, Cmd, Mode, Policy};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let caps = probe();
    let ws = std::env::temp_dir().join(format!("picoclaw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&ws).unwrap();
    let mut policy = Policy::new(&ws);
    policy.tmp_root = std::env::temp_dir().join("picoclaw-bench-tmp");
    if caps.is_root {
        policy.run_as = Some((65534, 65534));
    } else {
        policy.mode = Mode::BestEffort;
    }
    let argv = ["/bin/true".to_string()];
    let cancel = Cancel::new();
    let (mut plain, mut boxed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut label = String::new();
    for _ in 0..n {
        let t = Instant::now();
        let st = std::process::Command::new("/bin/true").status().unwrap();
        plain.push(t.elapsed());
        assert!(st.success());
        let t = Instant::now();
        let out = run(&policy, Cmd::Argv(&argv), None, &cancel).unwrap();
        boxed.push(t.elapsed());
        assert_eq!(out.exit_code, Some(0));
        label = out.enforcement.to_string();
    }
    let (p, b) = (median(plain), median(boxed));
    println!("iterations:      {n}");
    println!(
        "plain spawn:     {:>8.3} ms (median)",
        p.as_secs_f64() * 1e3
    );
    println!(
        "sandboxed spawn: {:>8.3} ms (median)  [{label}]",
        b.as_secs_f64() * 1e3
    );
    println!(
        "added:           {:>8.3} ms ({:.1}x)",
        (b.as_secs_f64() - p.as_secs_f64()) * 1e3,
        b.as_secs_f64() / p.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&ws);
}
