//! The Markdown models write, read into a flat list of Telegram HTML tokens.
//!
//! Deliberately forgiving: whatever is not recognised stays as literal text
//! (escaped later), so a model's odd syntax can never produce a message
//! Telegram refuses. Block structure is line-based (fenced code, headings,
//! quotes, bullets); inline spans never cross a line. Telegram's nesting
//! rules shape the output: `code` and `pre` contain nothing, and formatting
//! (`b`, `i`, `s`) never contains `code`, so a code span inside bold or a
//! link is kept as plain text.

/// One piece of the rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Visible text, not yet escaped.
    Text(String),
    Open(Tag),
    /// Closes the most recently opened tag.
    Close,
}

/// An opening tag: its name and the already-escaped attribute text
/// (` href="..."` or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    pub name: &'static str,
    pub attrs: String,
}

impl Tag {
    fn plain(name: &'static str) -> Tag {
        Tag {
            name,
            attrs: String::new(),
        }
    }
}

/// Parses model Markdown.
pub(crate) fn parse(md: &str) -> Vec<Tok> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = Out::default();
    let mut i = 0;
    let mut blank_before = false;
    let mut started = false;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            blank_before = started;
            i += 1;
            continue;
        }
        if started {
            out.text(if blank_before { "\n\n" } else { "\n" });
        }
        started = true;
        blank_before = false;
        if let Some((fence, lang)) = fence_open(line) {
            let mut body: Vec<&str> = Vec::new();
            i += 1;
            while i < lines.len() && !fence_closes(lines[i], &fence) {
                body.push(lines[i]);
                i += 1;
            }
            i += 1;
            code_block(&mut out, &body.join("\n"), lang);
            continue;
        }
        if let Some(title) = heading(line) {
            out.open(Tag::plain("b"));
            inline(&mut out, &chars(title), Ctx::formatted());
            out.close();
            i += 1;
            continue;
        }
        if quote_line(line).is_some() {
            out.open(Tag::plain("blockquote"));
            let mut first = true;
            while let Some(rest) = lines.get(i).and_then(|l| quote_line(l)) {
                if !first {
                    out.text("\n");
                }
                first = false;
                inline(&mut out, &chars(rest), Ctx::top());
                i += 1;
            }
            out.close();
            continue;
        }
        match bullet(line) {
            Some((indent, rest)) => {
                out.text(indent);
                out.text("• ");
                inline(&mut out, &chars(rest), Ctx::top());
            }
            None => inline(&mut out, &chars(line.trim_end()), Ctx::top()),
        }
        i += 1;
    }
    out.toks
}

#[derive(Default)]
struct Out {
    toks: Vec<Tok>,
}

impl Out {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(Tok::Text(t)) = self.toks.last_mut() {
            t.push_str(s);
        } else {
            self.toks.push(Tok::Text(s.to_owned()));
        }
    }

    fn open(&mut self, tag: Tag) {
        self.toks.push(Tok::Open(tag));
    }

    fn close(&mut self) {
        self.toks.push(Tok::Close);
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn code_block(out: &mut Out, body: &str, lang: Option<String>) {
    out.open(Tag::plain("pre"));
    let attrs = lang
        .map(|l| format!(" class=\"language-{l}\""))
        .unwrap_or_default();
    out.open(Tag {
        name: "code",
        attrs,
    });
    out.text(body);
    out.close();
    out.close();
}

/// An opening fence: the fence string (``` or ~~~, possibly longer) and a
/// sanitised language name.
fn fence_open(line: &str) -> Option<(String, Option<String>)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|c| *c == ch).count();
    if n < 3 {
        return None;
    }
    let info = t[n..].trim();
    if ch == '`' && info.contains('`') {
        return None;
    }
    let lang: String = info
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.' | '#'))
        .take(32)
        .collect();
    let lang = (!lang.is_empty()).then_some(lang);
    Some((ch.to_string().repeat(n), lang))
}

fn fence_closes(line: &str, fence: &str) -> bool {
    let t = line.trim();
    let Some(ch) = fence.chars().next() else {
        return false;
    };
    t.len() >= fence.len() && t.chars().all(|c| c == ch)
}

fn heading(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let n = t.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&n) {
        return None;
    }
    let rest = &t[n..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim_end();
    (!title.is_empty()).then_some(title)
}

fn quote_line(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `- item`, `* item`, `+ item` → (indentation, item text). A line made of
/// the marker only (a horizontal rule like `* * *`) is not a bullet.
fn bullet(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    let indent = &line[..line.len() - t.len()];
    let rest = t.strip_prefix(['-', '*', '+'])?;
    let item = rest.strip_prefix([' ', '\t'])?;
    let marker = t.chars().next()?;
    if item.chars().all(|c| c == marker || c == ' ') {
        return None;
    }
    Some((indent, item.trim_end()))
}

/// What may appear where we are.
#[derive(Clone, Copy)]
struct Ctx {
    /// Inside b/i/s/a: Telegram forbids `code` here.
    formatted: bool,
    /// Inside a link: no nested links.
    in_link: bool,
    /// Nesting depth of spans, capped so hostile input cannot exhaust the
    /// stack of a small board's worker thread.
    depth: u8,
}

/// Deeper spans than this stay literal text.
const MAX_DEPTH: u8 = 8;

impl Ctx {
    fn top() -> Ctx {
        Ctx {
            formatted: false,
            in_link: false,
            depth: 0,
        }
    }

    fn formatted() -> Ctx {
        Ctx {
            formatted: true,
            in_link: false,
            depth: 0,
        }
    }
}

fn inline(out: &mut Out, s: &[char], ctx: Ctx) {
    let mut buf = String::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        match c {
            '\\' if s.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                buf.push(s[i + 1]);
                i += 2;
            }
            '`' => {
                let n = run(s, i, '`');
                match find_code_end(s, i + n, n) {
                    Some(end) => {
                        let code: String = s[i + n..end].iter().collect();
                        let code = trim_one_space(&code);
                        if ctx.formatted {
                            buf.push_str(code);
                        } else {
                            out.text(&buf);
                            buf.clear();
                            out.open(Tag::plain("code"));
                            out.text(code);
                            out.close();
                        }
                        i = end + n;
                    }
                    None => {
                        buf.extend(&s[i..i + n]);
                        i += n;
                    }
                }
            }
            '*' | '_' | '~' if ctx.depth < MAX_DEPTH => {
                let n = run(s, i, c);
                match emphasis(s, i, c, n) {
                    Some((tags, inner_end)) => {
                        out.text(&buf);
                        buf.clear();
                        for t in tags {
                            out.open(Tag::plain(t));
                        }
                        let width = if c == '~' { 2 } else { n };
                        inline(
                            out,
                            &s[i + width..inner_end],
                            Ctx {
                                formatted: true,
                                depth: ctx.depth + 1,
                                ..ctx
                            },
                        );
                        for _ in tags {
                            out.close();
                        }
                        i = inner_end + width;
                    }
                    None => {
                        buf.extend(&s[i..i + n]);
                        i += n;
                    }
                }
            }
            '[' if !ctx.in_link && ctx.depth < MAX_DEPTH => match link(s, i) {
                Some((text_end, href, next)) => {
                    out.text(&buf);
                    buf.clear();
                    out.open(Tag {
                        name: "a",
                        attrs: format!(" href=\"{}\"", escape_attr(&href)),
                    });
                    let label = &s[i + 1..text_end];
                    if label.iter().all(|c| c.is_whitespace()) {
                        out.text(&href);
                    } else {
                        inline(
                            out,
                            label,
                            Ctx {
                                formatted: true,
                                in_link: true,
                                depth: ctx.depth + 1,
                            },
                        );
                    }
                    out.close();
                    i = next;
                }
                None => {
                    buf.push(c);
                    i += 1;
                }
            },
            _ => {
                buf.push(c);
                i += 1;
            }
        }
    }
    out.text(&buf);
}

fn run(s: &[char], i: usize, c: char) -> usize {
    s[i..].iter().take_while(|x| **x == c).count()
}

fn trim_one_space(code: &str) -> &str {
    match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
        Some(inner) if !inner.trim().is_empty() => inner,
        _ => code,
    }
}

fn find_code_end(s: &[char], from: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < s.len() {
        if s[j] == '`' {
            let m = run(s, j, '`');
            if m == n && j > from {
                return Some(j);
            }
            j += m;
        } else {
            j += 1;
        }
    }
    None
}

/// An emphasis span opening at `i` with a run of `n` delimiters `c`: the
/// tags to open and where the inner text ends (the closing run's start).
fn emphasis(s: &[char], i: usize, c: char, n: usize) -> Option<(&'static [&'static str], usize)> {
    let (tags, width): (&'static [&'static str], usize) = match (c, n) {
        ('~', 2) => (&["s"], 2),
        ('~', _) => return None,
        (_, 1) => (&["i"], 1),
        (_, 2) => (&["b"], 2),
        (_, 3) => (&["b", "i"], 3),
        _ => return None,
    };
    let after = *s.get(i + width)?;
    if after.is_whitespace() {
        return None;
    }
    // `snake_case_names` are not emphasis: `_` must not open inside a word.
    if c == '_' && i > 0 && s[i - 1].is_alphanumeric() {
        return None;
    }
    let mut j = i + width;
    while j < s.len() {
        match s[j] {
            '`' => {
                let m = run(s, j, '`');
                j = find_code_end(s, j + m, m).map_or(j + m, |e| e + m);
            }
            '\\' => j += 2,
            x if x == c => {
                let m = run(s, j, c);
                let closes = m == width
                    && j > i + width
                    && !s[j - 1].is_whitespace()
                    && (c != '_' || s.get(j + m).is_none_or(|n| !n.is_alphanumeric()));
                if closes {
                    return Some((tags, j));
                }
                j += m;
            }
            _ => j += 1,
        }
    }
    None
}

/// `[label](url)` starting at `i`: where the label ends, the URL, and the
/// index after the closing parenthesis. Only schemes a chat client handles
/// safely become links; anything else stays literal text.
fn link(s: &[char], i: usize) -> Option<(usize, String, usize)> {
    let mut depth = 0usize;
    let mut j = i;
    let label_end = loop {
        match s.get(j)? {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    break j;
                }
            }
            _ => {}
        }
        j += 1;
    };
    if s.get(label_end + 1) != Some(&'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut k = label_end + 1;
    let close = loop {
        match s.get(k)? {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break k;
                }
            }
            _ => {}
        }
        k += 1;
    };
    let target: String = s[label_end + 2..close].iter().collect();
    let url = target.split_whitespace().next()?;
    let url = url
        .strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .unwrap_or(url);
    let lower = url.to_ascii_lowercase();
    let allowed = ["http://", "https://", "tg://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len());
    allowed.then(|| (label_end, url.to_owned(), close + 1))
}

/// Escapes text for an HTML attribute value in double quotes.
pub(crate) fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
