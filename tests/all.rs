//! End-to-end tests: the real `picoclaw` binary against fake Telegram and
//! LLM servers on 127.0.0.1. One test binary (`cargo test -p picoclaw
//! --test e2e`) so the suite links once.

mod suite;
mod util;
