//! `cargo run --release -p picoclaw-sandbox --example spawn_overhead [N]`
//!
//! Median wall time of spawn+wait for `/bin/true`, plain versus inside the
//! full sandbox under each backend (ruleset build, namespace mounts, tmp
//! dir, clone, child setup, exec, pipe drain), interleaved in one run so
//! all see the same machine load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use picoclaw_core::Cancel;
use picoclaw_sandbox::{probe, run, Backend, Cmd, Mode, Policy};

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
    let backends = [
        Backend::Auto,
        Backend::Landlock,
        Backend::Namespaces,
        Backend::Both,
    ];
    let mut plain = Vec::with_capacity(n);
    let mut boxed: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); backends.len()];
    let mut labels = vec![String::new(); backends.len()];
    // Interleaved, so every variant sees the same machine load.
    for _ in 0..n {
        let t = Instant::now();
        let st = std::process::Command::new("/bin/true").status().unwrap();
        plain.push(t.elapsed());
        assert!(st.success());
        for (i, b) in backends.iter().enumerate() {
            policy.backend = *b;
            let t = Instant::now();
            let out = run(&policy, Cmd::Argv(&argv), None, &cancel).unwrap();
            boxed[i].push(t.elapsed());
            assert_eq!(out.exit_code, Some(0));
            labels[i] = out.enforcement.to_string();
        }
    }
    let p = median(plain);
    println!("iterations:      {n}");
    println!(
        "plain spawn:     {:>8.3} ms (median)",
        p.as_secs_f64() * 1e3
    );
    for (i, b) in backends.iter().enumerate() {
        let m = median(std::mem::take(&mut boxed[i]));
        if *b == Backend::Auto {
            // The lines the benches crate parses: the default backend.
            println!(
                "sandboxed spawn: {:>8.3} ms (median)  [{}]",
                m.as_secs_f64() * 1e3,
                labels[i]
            );
            println!(
                "added:           {:>8.3} ms ({:.1}x)",
                (m.as_secs_f64() - p.as_secs_f64()) * 1e3,
                m.as_secs_f64() / p.as_secs_f64()
            );
            continue;
        }
        println!(
            "{:<11} {:>8.3} ms (median), added {:>6.3} ms ({:.1}x)  [{}]",
            b.as_str(),
            m.as_secs_f64() * 1e3,
            (m.as_secs_f64() - p.as_secs_f64()) * 1e3,
            m.as_secs_f64() / p.as_secs_f64(),
            labels[i]
        );
    }
    let _ = std::fs::remove_dir_all(&ws);
}
