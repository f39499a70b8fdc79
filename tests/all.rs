//! End-to-end tests: the real `picoclaw` binary against fake Telegram and
//! LLM servers on 127.0.0.1. One test binary (`cargo test -p picoclaw
//! --test e2e`) so the suite links once.

// Tests may panic on anything unexpected; that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
mod util;
