//! `picoclaw doctor --probe`: the live probe table, run by the real binary
//! re-executing itself as the sandbox's probe program. Needs root and a
//! kernel with Landlock and namespaces, like the sandbox crate's
//! adversarial suite.

use crate::util::*;

/// The cell of `probe`'s row under `column` (0 landlock, 1 namespaces,
/// 2 both): cells are 13 wide after a 36-wide name.
fn cell(table: &str, probe: &str, column: usize) -> String {
    let line = table
        .lines()
        .find(|l| l.starts_with(probe))
        .unwrap_or_else(|| panic!("no row {probe:?} in:\n{table}"));
    let start = 37 + column * 14;
    line.get(start..(start + 13).min(line.len()))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn doctor_probe_finds_every_probe_blocked_under_every_backend() {
    // The fork bombs run under a uid of their own (RLIMIT_NPROC is per uid).
    let p = Picoclaw::with_config("doctor-probe", "[sandbox]\ntool_user = 64002\n");
    let out = p.run_cli(&["doctor", "--probe"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    let table: String = text
        .lines()
        .skip_while(|l| !l.starts_with("probe "))
        .take(8)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(table.lines().count(), 8, "{text}");
    for probe in [
        "write outside the workspace",
        "read a hidden file (config)",
        "read picoclaw's environ",
        "tcp connect to loopback",
        "udp send to loopback",
        "signal the parent",
        "fork bomb under the process limit",
    ] {
        for column in 0..3 {
            assert_eq!(cell(&table, probe, column), "blocked", "{probe}:\n{table}");
        }
    }
    assert!(
        text.contains("ok    configured backend both (sandbox.backend = auto) blocked every probe"),
        "{text}"
    );
}

#[test]
fn doctor_probe_reports_what_a_root_tool_gets_through() {
    // Root tools keep CAP_SYS_PTRACE: Landlock alone lets them read
    // picoclaw's environ; the PID namespace hides picoclaw entirely.
    let p = Picoclaw::with_config(
        "doctor-probe-root",
        "[sandbox]\nmode = \"best_effort\"\ntool_user = 0\n",
    );
    let text = stdout_of(&p.run_cli(&["doctor", "--probe"]));
    let environ = "read picoclaw's environ";
    assert_eq!(cell(&text, environ, 0), "NOT BLOCKED", "{text}");
    assert_eq!(cell(&text, environ, 1), "blocked", "{text}");
    assert_eq!(cell(&text, environ, 2), "blocked", "{text}");
    // What was read is not shown.
    assert!(!text.contains("sk-e2e-primary-key"), "{text}");
}
