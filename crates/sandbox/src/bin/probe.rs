//! `sandbox-probe CASE ARGS…`: the adversarial suite's probe program. The
//! cases live in picoclaw-sandbox-probe, which `picoclaw doctor --probe`
//! runs too (see that crate's docs).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(picoclaw_sandbox_probe::main(&args));
}
