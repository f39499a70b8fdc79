//! `picoclaw usage`: tokens and model calls per chat, read from the
//! database without changing it.

use picoclaw_config::Config;
use picoclaw_store::{Store, StoreOptions};

use crate::Failure;

pub fn run(config: &Config, since: Option<u64>) -> Result<(), Failure> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (from, label) = match since {
        Some(secs) => (now - secs as i64, format!("the last {}", span(secs))),
        None => (now - now.rem_euclid(86_400), String::from("today (UTC)")),
    };
    let store = Store::open_read_only(&config.store.dir, &StoreOptions::default())
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let rows = store
        .usage_by_chat(from, None)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!("Usage over {label}:");
    if rows.is_empty() {
        println!("no model calls");
        return Ok(());
    }
    println!(
        "{:<32} {:>7} {:>12} {:>12} {:>12}",
        "chat", "calls", "tokens in", "tokens out", "total"
    );
    let (mut calls, mut input, mut output) = (0, 0, 0);
    for r in &rows {
        println!(
            "{:<32} {:>7} {:>12} {:>12} {:>12}",
            r.chat,
            r.calls,
            r.input_tokens,
            r.output_tokens,
            r.tokens()
        );
        calls += r.calls;
        input += r.input_tokens;
        output += r.output_tokens;
    }
    println!(
        "{:<32} {:>7} {:>12} {:>12} {:>12}",
        "all chats",
        calls,
        input,
        output,
        input + output
    );
    Ok(())
}

pub(crate) fn span(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}
