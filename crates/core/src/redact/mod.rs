//! Secret redaction. Every secret the config resolves is registered here,
//! and every log line passes through [`scrub`], so a token that ends up in an
//! error message (Telegram puts it in the URL path) is never printed. The
//! agent also scrubs tool output before the model sees it, and tool
//! arguments before they are written to the audit table.
//!
//! Three layers, in order:
//! 1. registered values (provider keys, channel tokens): replaced whole;
//! 2. built-in shapes of well-known credentials ([`patterns`]): API key
//!    prefixes (`sk-`, `ghp_`, `xoxb-`…), bot tokens, `Bearer` tokens,
//!    private-key PEM blocks, `*_KEY=`/`*_TOKEN=`/`*_SECRET=` assignments;
//! 3. the user's `log.redact_patterns` ([`glob`]): whole words matching a
//!    glob with `*` and `?`.
//!
//! No regex engine: the shapes above are prefix and character-class scans,
//! and a glob over words covers what users write as patterns.

mod glob;
mod patterns;

use std::borrow::Cow;
use std::sync::RwLock;

pub use glob::{check_pattern, Glob};

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static USER_PATTERNS: RwLock<Vec<Glob>> = RwLock::new(Vec::new());

/// What replaces a secret.
pub const MARK: &str = "***";

/// Secrets shorter than this are not scrubbed from text: replacing "ab"
/// everywhere would mangle logs and a 3-character secret is no secret.
const MIN_SCRUB_LEN: usize = 6;

/// Registers a secret value so that logs never show it.
pub fn register(secret: &str) {
    if secret.len() < MIN_SCRUB_LEN {
        return;
    }
    if let Ok(mut list) = SECRETS.write() {
        if !list.iter().any(|s| s == secret) {
            list.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }
}

/// Replaces the user's patterns (`log.redact_patterns`, already checked
/// with [`check_pattern`]). A later call (SIGHUP) replaces the list.
pub fn set_user_patterns(patterns: &[String]) {
    let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p)).collect();
    if let Ok(mut list) = USER_PATTERNS.write() {
        *list = globs;
    }
}

/// Replaces every registered secret, every well-known credential shape
/// and every word matching a user pattern in `text` with `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if let Ok(list) = SECRETS.read() {
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MARK));
            }
        }
    }
    let mut spans = patterns::find(&out);
    if let Ok(globs) = USER_PATTERNS.read() {
        if !globs.is_empty() {
            spans.extend(glob::find(&out, &globs));
        }
    }
    if spans.is_empty() {
        return out;
    }
    Cow::Owned(replace_spans(&out, spans))
}

/// `text` with each byte range in `spans` (ASCII-bounded, possibly
/// overlapping) replaced by one [`MARK`].
fn replace_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in merged {
        out.push_str(&text[at..start]);
        out.push_str(MARK);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// How a secret is shown to a person (check-config): enough to tell two keys
/// apart, never enough to use one.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n == 0 {
        return String::from("(empty)");
    }
    if n < 16 {
        return String::from("***");
    }
    let tail: String = secret.chars().skip(n - 4).collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secret_is_scrubbed_from_text() {
        register("123456:AAFakeTokenValue");
        let line = "GET http://x/bot123456:AAFakeTokenValue/getUpdates failed";
        assert_eq!(scrub(line), "GET http://x/bot***/getUpdates failed");
    }

    #[test]
    fn mask_never_reveals_short_secrets() {
        assert_eq!(mask("hunter2"), "***");
        assert_eq!(mask("sk-abcdefghijklmnopqrstuvwxyz"), "***wxyz");
        assert_eq!(mask(""), "(empty)");
    }

    #[test]
    fn text_without_secrets_is_returned_as_is() {
        let line = "exec in telegram:42: exit 0 after 3 ms [sandbox: landlock]";
        assert!(matches!(scrub(line), Cow::Borrowed(_)));
    }

    #[test]
    fn overlapping_spans_become_one_mark() {
        assert_eq!(
            replace_spans("abcdefgh", vec![(4, 6), (1, 3), (2, 5)]),
            "a***gh"
        );
        assert_eq!(replace_spans("abc", vec![(0, 3)]), "***");
    }
}
