//! Secret redaction. Every secret the config resolves is registered here,
//! and every log line passes through [`scrub`], so a token that ends up in an
//! error message (Telegram puts it in the URL path) is never printed.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

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

/// Replaces every registered secret in `text` with `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let Ok(list) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
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
}
