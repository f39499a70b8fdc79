//! What onboarding writes: a short, commented `config.toml` (everything
//! else keeps its default, documented in config.example.toml) and starter
//! persona files for the workspace.

use std::fmt::Write;

use super::Answers;

/// A TOML basic string.
fn q(s: &str) -> String {
    quote(s, false)
}

/// A secret as a TOML basic string. `$` is doubled: secrets are read with
/// `${VAR}` expansion, and a literal key must stay literal.
fn secret(s: &str) -> String {
    quote(s, true)
}

fn quote(s: &str, dollars: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if dollars => out.push_str("$$"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn config(a: &Answers) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Written by `picoclaw onboard`. Every other key keeps its default;\n\
         # config.example.toml documents them all. This file holds secrets:\n\
         # keep it chmod 600. Check it with `picoclaw check-config`.\n"
    );
    if let Some(ws) = &a.workspace {
        let _ = writeln!(o, "[agent]\nworkspace = {}\n", q(&ws.display().to_string()));
    }
    if let Some(dir) = &a.state_dir {
        let _ = writeln!(o, "[store]\ndir = {}\n", q(&dir.display().to_string()));
    }
    if let Some(t) = &a.telegram {
        let _ = writeln!(o, "[channels.telegram]\ntoken = {}", secret(&t.token));
        if let Some(base) = &t.api_base {
            let _ = writeln!(o, "api_base = {}", q(base));
        }
        let owner = t.owner.as_deref().unwrap_or_default();
        let _ = writeln!(
            o,
            "# Who may talk to the bot: numeric Telegram user ids (others get a\n# pairing code). Owners also get exec and file writes in direct chats.\nallow_from = [{owner}]\nowners = [{owner}]\n"
        );
    }
    if let Some(d) = &a.discord {
        let _ = writeln!(o, "[channels.discord]\ntoken = {}", secret(&d.token));
        if let Some(base) = &d.api_base {
            let _ = writeln!(o, "api_base = {}", q(base));
        }
        let owner = d.owner.as_deref().map(q).unwrap_or_default();
        let _ = writeln!(
            o,
            "# Who may talk to the bot: Discord user ids (others get a pairing\n# code). Owners also get exec and file writes in direct chats.\nallow_from = [{owner}]\nowners = [{owner}]\n"
        );
    }
    let _ = writeln!(
        o,
        "[[providers]]\nname = {}\nkind = {}\nbase_url = {}\nmodel = {}",
        q(a.preset.name),
        q(if a.preset.anthropic {
            "anthropic"
        } else {
            "openai"
        }),
        q(&a.base_url),
        q(&a.model)
    );
    if let Some(key) = &a.api_key {
        let _ = writeln!(o, "api_key = {}", secret(key));
    }
    o
}

/// Starter persona files: `(name, text)`. Short on purpose: they are sent
/// with every model call.
pub const STARTER_FILES: [(&str, &str); 3] = [
    (
        "AGENTS.md",
        "# How to work\n\n\
         - Answer briefly; say so when you are unsure.\n\
         - Files you write live in this workspace; commands run in a sandbox \
           without network.\n\
         - Ask before deleting or overwriting something the user made.\n",
    ),
    (
        "SOUL.md",
        "# Who you are\n\n\
         A calm, practical assistant on a small Linux device. Friendly, direct, \
         no filler.\n",
    ),
    (
        "USER.md",
        "# About the user\n\n\
         (Write here what the assistant should know about you: name, language, \
         time zone, what you use it for.)\n",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_for_toml_and_dollars_stay_literal() {
        assert_eq!(q(r#"a"b\c$d"#), r#""a\"b\\c$d""#);
        assert_eq!(secret("k$y"), r#""k$$y""#);
    }
}
