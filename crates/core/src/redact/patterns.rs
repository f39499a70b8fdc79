//! Built-in shapes of credentials, found without a regex engine: each is
//! a fixed trigger (a prefix, `=`, `-----BEGIN `) followed by a character
//! class scan. Every function returns byte ranges to replace; all their
//! edges sit next to ASCII bytes, so slicing there is always valid UTF-8.

/// Key prefixes and the fewest token characters that must follow: vendor
/// formats (OpenAI/Anthropic/OpenRouter `sk-`, GitHub, Slack, GitLab,
/// Google) that are long random strings after a fixed prefix.
const PREFIXES: &[(&str, usize)] = &[
    ("sk-", 16),
    ("ghp_", 20),
    ("gho_", 20),
    ("ghu_", 20),
    ("ghs_", 20),
    ("ghr_", 20),
    ("github_pat_", 20),
    ("xoxa-", 10),
    ("xoxb-", 10),
    ("xoxe-", 10),
    ("xoxp-", 10),
    ("xoxr-", 10),
    ("xoxs-", 10),
    ("xapp-", 10),
    ("glpat-", 16),
    ("AIza", 30),
];

/// Assignment names ending (case-insensitively) in one of these hold a
/// secret: `OPENAI_API_KEY=`, `access_token=`, `CLIENT_SECRET=`.
const SECRET_SUFFIXES: &[&str] = &["_key", "_token", "_secret", "_password", "_passwd"];

/// Every span to redact in `text`.
pub(crate) fn find(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    prefixed(text, &mut spans);
    if text.contains(':') {
        bot_tokens(b, &mut spans);
    }
    bearer(b, &mut spans);
    if text.contains("-----BEGIN ") {
        pem(text, &mut spans);
    }
    if text.contains('=') || text.contains("\":") {
        assignments(b, &mut spans);
    }
    spans
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Length of the run of bytes matching `class` starting at `from`.
fn run(b: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    b.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| class(c)).count())
}

/// `sk-…`, `ghp_…`: the prefix is kept (it says what kind of key was
/// there), the random part replaced.
fn prefixed(text: &str, spans: &mut Vec<(usize, usize)>) {
    let b = text.as_bytes();
    for (prefix, min) in PREFIXES {
        for (at, _) in text.match_indices(prefix) {
            // `task-…`, `desk-…` are words, not keys.
            if at > 0 && is_ident(b[at - 1]) {
                continue;
            }
            let tail = at + prefix.len();
            let n = run(b, tail, is_token);
            if n >= *min {
                spans.push((tail, tail + n));
            }
        }
    }
}

/// Telegram bot tokens: 6–12 digits, `:`, 30 or more token characters.
fn bot_tokens(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    for colon in memchr_all(b, b':') {
        let digits = b[..colon]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let start = colon - digits;
        // No word boundary required before: the Bot API puts `bot` right
        // in front of the token in every URL.
        if !(6..=12).contains(&digits) {
            continue;
        }
        let n = run(b, colon + 1, is_token);
        if n >= 30 {
            spans.push((start, colon + 1 + n));
        }
    }
}

/// `Bearer <token>` in any case (an Authorization header echoed in an
/// error, a curl command line).
fn bearer(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    const WORD: &[u8] = b"bearer";
    let mut i = 0;
    while i + WORD.len() < b.len() {
        if !b[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
            || (i > 0 && is_ident(b[i - 1]))
            || !matches!(b[i + WORD.len()], b' ' | b'\t')
        {
            i += 1;
            continue;
        }
        let start = i + WORD.len() + run(b, i + WORD.len(), |c| c == b' ' || c == b'\t');
        let n = run(b, start, |c| {
            c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)
        });
        if n >= 8 {
            spans.push((start, start + n));
        }
        i = start + n.max(1);
    }
}

/// The body of `-----BEGIN … PRIVATE KEY-----` blocks (RSA, EC, OpenSSH,
/// PKCS#8, encrypted, PGP). Certificates and public keys are public and
/// stay. A block without its END line (cut output) is redacted to the end.
fn pem(text: &str, spans: &mut Vec<(usize, usize)>) {
    const BEGIN: &str = "-----BEGIN ";
    for (at, _) in text.match_indices(BEGIN) {
        let after = at + BEGIN.len();
        let Some(close) = text[after..].find("-----") else {
            continue;
        };
        let label = &text[after..after + close];
        if !label.contains("PRIVATE") || label.contains('\n') {
            continue;
        }
        let body = after + close + "-----".len();
        let end = text[body..]
            .find("-----END ")
            .map_or(text.len(), |e| body + e);
        spans.push((body, end));
    }
}

/// `NAME_KEY=value`, `export API_TOKEN="value"`, `"client_secret": "value"`:
/// the value goes, the name stays. `${VAR}` references and values already
/// masked are left alone.
fn assignments(b: &[u8], spans: &mut Vec<(usize, usize)>) {
    for (i, &c) in b.iter().enumerate() {
        let json = c == b':';
        if c != b'=' && !json {
            continue;
        }
        // Name: identifier before optional spaces and (for JSON) a quote.
        let mut end = i;
        while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        if json {
            if end == 0 || b[end - 1] != b'"' {
                continue;
            }
            end -= 1;
        }
        let len = b[..end].iter().rev().take_while(|&&c| is_ident(c)).count();
        let name = &b[end - len..end];
        if !SECRET_SUFFIXES
            .iter()
            .any(|s| ends_with_ignore_case(name, s))
        {
            continue;
        }
        let mut v = i + 1 + run(b, i + 1, |c| c == b' ' || c == b'\t');
        let quote = match b.get(v) {
            Some(q @ (b'"' | b'\'')) => {
                v += 1;
                Some(*q)
            }
            _ if json => continue,
            _ => None,
        };
        let n = match quote {
            Some(q) => run(b, v, |c| c != q && c != b'\n'),
            None => run(b, v, |c| {
                !c.is_ascii_whitespace() && !b",;&)]}\"'".contains(&c)
            }),
        };
        let value = &b[v..v + n];
        if n == 0 || value.starts_with(b"${") || value.starts_with(b"***") {
            continue;
        }
        spans.push((v, v + n));
    }
}

fn ends_with_ignore_case(name: &[u8], suffix: &str) -> bool {
    name.len() > suffix.len()
        && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn memchr_all(b: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    b.iter()
        .enumerate()
        .filter(move |(_, &c)| c == needle)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        crate::redact::replace_spans(text, find(text))
    }

    #[test]
    fn vendor_key_prefixes_keep_the_prefix_and_lose_the_key() {
        assert_eq!(
            scrub("key: sk-proj-AbCdEf0123456789xyzXYZ, ok"),
            "key: sk-***, ok"
        );
        assert_eq!(scrub("sk-ant-api03-AAAAbbbbCCCCdddd-eeee"), "sk-***");
        assert_eq!(
            scrub("push with ghp_0123456789abcdefghijABCDEFGHIJ now"),
            "push with ghp_*** now"
        );
        assert_eq!(scrub("xoxb-1234567890-abcdefghij"), "xoxb-***");
        assert_eq!(
            scrub("github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
            "github_pat_***"
        );
    }

    #[test]
    fn words_that_merely_contain_a_prefix_stay() {
        for text in [
            "task-0123456789abcdefghij",
            "desk-lamp",
            "sk-short",
            "the risk-assessment-document-v2 is here",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn telegram_bot_tokens_go_whole() {
        assert_eq!(
            scrub("GET /bot7000000123:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/getMe"),
            "GET /bot***/getMe"
        );
        assert_eq!(scrub("at 12:30:45 the time"), "at 12:30:45 the time");
    }

    #[test]
    fn bearer_tokens_go_in_any_case() {
        assert_eq!(
            scrub("Authorization: Bearer abc.DEF-123_456~xyz="),
            "Authorization: Bearer ***"
        );
        assert_eq!(
            scrub("curl -H 'authorization: bearer  tok12345678'"),
            "curl -H 'authorization: bearer  ***'"
        );
        assert_eq!(scrub("a bearer of bad news"), "a bearer of bad news");
    }

    #[test]
    fn private_key_blocks_lose_their_body_and_certificates_stay() {
        let key = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(
            scrub(key),
            "x\n-----BEGIN OPENSSH PRIVATE KEY-----***-----END OPENSSH PRIVATE KEY-----\ny"
        );
        let cut = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow";
        assert_eq!(scrub(cut), "-----BEGIN RSA PRIVATE KEY-----***");
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(scrub(cert), cert);
    }

    #[test]
    fn secret_assignments_lose_their_value() {
        assert_eq!(
            scrub("OPENAI_API_KEY=abc123 PATH=/usr/bin"),
            "OPENAI_API_KEY=*** PATH=/usr/bin"
        );
        assert_eq!(
            scrub("export GITHUB_TOKEN=\"tok en\"\nnext"),
            "export GITHUB_TOKEN=\"***\"\nnext"
        );
        assert_eq!(scrub("db_password = 'hunter2'"), "db_password = '***'");
        assert_eq!(
            scrub(r#"{"client_secret": "s3cr3t", "name": "x"}"#),
            r#"{"client_secret": "***", "name": "x"}"#
        );
        assert_eq!(scrub("?access_token=QQ&x=1"), "?access_token=***&x=1");
    }

    #[test]
    fn harmless_assignments_and_references_stay() {
        for text in [
            "max_tokens=1024",
            "KEY=value",
            "api_key = \"${OPENAI_API_KEY}\"",
            "api_key = \"***wxyz\"",
            "API_KEY=",
            "providers[0].api_key: environment variable X is not set",
            "a == b",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn non_ascii_text_around_secrets_survives() {
        assert_eq!(
            scrub("clé: sk-0123456789abcdefXYZ — fin"),
            "clé: sk-*** — fin"
        );
    }
}
