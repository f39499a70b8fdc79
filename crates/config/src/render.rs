//! `check-config` output: the effective configuration as TOML, with every
//! default filled in and secrets masked. Each section renders itself; these
//! are the shared value formatters.

use std::fmt::Write;

use crate::{
    agent, audit, discord, heartbeat, http, mcp, media, providers, sandbox, scheduler, skills,
    store, telegram, tools, Config, Secret, SecretSource,
};

pub(crate) fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn secret(s: &Secret, source: SecretSource) -> String {
    let from = match source {
        SecretSource::Inline => "inline",
        SecretSource::Env => "from environment",
        SecretSource::File => "from file",
    };
    format!("{}  # {from}", q(&s.masked()))
}

pub(crate) fn list<T: ToString>(items: &[T], quote: bool) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|i| {
            if quote {
                q(&i.to_string())
            } else {
                i.to_string()
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

pub(crate) fn render(c: &Config) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# effective configuration of {}", c.path.display());
    agent::render(&c.agent, &mut o);
    store::render(&c.store, &c.log, &mut o);
    audit::render(&c.audit, &mut o);
    http::render(&c.http, &mut o);
    telegram::render(&c.telegram, &mut o);
    discord::render(&c.discord, &mut o);
    providers::render(&c.providers, &mut o);
    tools::render(&c.tools, &mut o);
    sandbox::render(&c.sandbox, &mut o);
    scheduler::render(&c.scheduler, &mut o);
    heartbeat::render(&c.heartbeat, &mut o);
    skills::render(&c.skills, &mut o);
    mcp::render(&c.mcp, &mut o);
    media::render(&c.media, &c.transcription, &mut o);
    o
}
