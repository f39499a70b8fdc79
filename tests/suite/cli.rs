use crate::util::*;

#[test]
fn version_prints_and_exits_zero() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("picoclaw {}", env!("CARGO_PKG_VERSION"))
    );
}
