//! `log.redact_patterns`: globs (`*` any run, `?` one character) matched
//! against whole words. A word is a run of characters that are neither
//! whitespace nor quotes, brackets, `,` or `;` — so `acme_live_*` catches
//! `acme_live_8f3a…` inside `token="acme_live_8f3a…",` and
//! `*.corp.example.com` a host name in a URL's word.
//!
//! Why a glob and not a regex: the regex crates cost 100+ KiB of a 4 MiB
//! budget, and what people redact (a key prefix, an internal host, an
//! account number shape) is a prefix, suffix or a few fixed characters.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    chars: Vec<char>,
}

/// Fewest literal (non-wildcard) characters a pattern must have: `*` or
/// `a*` would blank every log line.
const MIN_LITERALS: usize = 4;

/// Checks a user pattern; the error says why it is refused.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.chars().any(|c| c.is_whitespace() || is_break(c)) {
        return Err(String::from(
            "a pattern matches one word: no spaces, quotes, brackets, ',' or ';'",
        ));
    }
    let literals = pattern.chars().filter(|c| *c != '*' && *c != '?').count();
    if literals < MIN_LITERALS {
        return Err(format!(
            "needs at least {MIN_LITERALS} characters besides * and ?, or it would hide everything"
        ));
    }
    Ok(())
}

fn is_break(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | ';'
    )
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            chars: pattern.chars().collect(),
        }
    }

    /// Whether the whole of `word` matches.
    pub fn matches(&self, word: &str) -> bool {
        let w: Vec<char> = word.chars().collect();
        // Iterative wildcard matching with one backtrack point (the last
        // `*`): linear in practice, never exponential.
        let (p, mut pi, mut wi) = (&self.chars, 0, 0);
        let mut star: Option<(usize, usize)> = None;
        while wi < w.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == w[wi]) {
                pi += 1;
                wi += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, wi));
                pi += 1;
            } else if let Some((sp, sw)) = star {
                pi = sp + 1;
                wi = sw + 1;
                star = Some((sp, sw + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

/// Byte ranges of the words of `text` that match any of `globs`.
pub(crate) fn find(text: &str, globs: &[Glob]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let breaks = c.is_whitespace() || is_break(c);
        match (start, breaks) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                let word = &text[s..i];
                if globs.iter().any(|g| g.matches(word)) {
                    spans.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_words_only() {
        let g = Glob::new("acme_live_*");
        assert!(g.matches("acme_live_8f3a"));
        assert!(g.matches("acme_live_"));
        assert!(!g.matches("xacme_live_8f3a"));
        let g = Glob::new("*.corp.example.com");
        assert!(g.matches("db1.corp.example.com"));
        assert!(!g.matches("db1.corp.example.com:5432"));
        let g = Glob::new("ACCT-????-??");
        assert!(g.matches("ACCT-1234-56"));
        assert!(!g.matches("ACCT-1234-567"));
        assert!(Glob::new("a*b*c*d").matches("aXbYYcZd"));
        assert!(!Glob::new("a*b*c*d").matches("aXbYYcZ"));
    }

    #[test]
    fn matching_words_are_found_inside_quotes_and_punctuation() {
        let globs = [Glob::new("acme_live_*"), Glob::new("*.corp.example.com")];
        let text = "token=\"acme_live_9z\", host (db.corp.example.com) acme_live";
        let spans = find(text, &globs);
        let words: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(words, ["acme_live_9z", "db.corp.example.com"]);
        // `token=` is part of the first word's run only up to the quote.
        assert_eq!(
            crate::redact::replace_spans(text, spans),
            "token=\"***\", host (***) acme_live"
        );
    }

    #[test]
    fn patterns_that_would_hide_everything_are_refused() {
        assert!(check_pattern("*").is_err());
        assert!(check_pattern("ab*?").is_err());
        assert!(check_pattern("two words").is_err());
        assert!(check_pattern("acme_*").is_ok());
    }
}
