//! The adversarial suite: every case runs our own probe binary inside the
//! sandbox and checks the side effect, not just the exit status. Needs
//! Linux with Landlock and seccomp, run as root (the tool uid switch is
//! part of what is tested).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not #[test] fns

mod suite;
