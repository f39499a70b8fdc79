//! HTML → readable text for the model, in one pass over the document.
//!
//! Not a browser-grade parser (html5ever-based converters cost hundreds of
//! KiB): a tag scanner that drops scripts, styles, navigation and other
//! non-content, turns block elements into line breaks, headings into `#`,
//! list items into `- `, table cells into `|`, keeps `<pre>` as written and
//! links as `[text](url)`, decodes entities and collapses whitespace.
//! Malformed markup degrades to more or less text, never to a panic.

use super::entity::decode;

/// The page's title and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub title: Option<String>,
    pub text: String,
}

/// Elements whose whole content is dropped.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "select",
    "nav", "button", "datalist",
];
/// Elements whose content is raw text up to the closing tag.
const RAW: &[&str] = &["script", "style", "textarea", "title", "xmp"];
/// Elements that start and end a block of text.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "blockquote",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "form",
    "fieldset",
    "caption",
    "hr",
    "body",
    "html",
];

/// Converts `html`; relative links are resolved against `base` when it is
/// given (the page's final URL).
pub(crate) fn to_text(html: &str, base: Option<&str>) -> Page {
    let mut w = Writer::default();
    let mut title: Option<String> = None;
    let b = html.as_bytes();
    let mut i = 0;
    // (tag, nesting) of the element whose content is being dropped.
    let mut skipping: Option<(String, usize)> = None;
    let mut pre = 0usize;
    // Open links: (href, text length when opened).
    let mut links: Vec<(Option<String>, usize)> = Vec::new();
    while i < b.len() {
        if b[i] != b'<' {
            let end = memchr(b'<', &b[i..]).map_or(b.len(), |n| i + n);
            if skipping.is_none() {
                w.text(&decode(&html[i..end]), pre > 0);
            }
            i = end;
            continue;
        }
        let rest = &html[i..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            i = comment.find("-->").map_or(b.len(), |n| i + 4 + n + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = memchr(b'>', &b[i..]).map_or(b.len(), |n| i + n + 1);
            continue;
        }
        let Some(tag) = Tag::parse(rest) else {
            if skipping.is_none() {
                w.text("<", pre > 0);
            }
            i += 1;
            continue;
        };
        i += tag.len;
        if let Some((name, depth)) = &mut skipping {
            if tag.name == *name {
                if tag.closing {
                    *depth -= 1;
                    if *depth == 0 {
                        skipping = None;
                    }
                } else if !tag.self_closing {
                    *depth += 1;
                }
            }
            continue;
        }
        let name = tag.name.as_str();
        if !tag.closing && RAW.contains(&name) {
            // Raw text: find the closing tag, case-insensitively.
            let close = format!("</{name}");
            let end = find_ci(&html[i..], &close).map_or(b.len(), |n| i + n);
            if name == "title" && title.is_none() {
                let t = collapse(&decode(&html[i..end]));
                if !t.is_empty() {
                    title = Some(t);
                }
            } else if name == "textarea" || name == "xmp" {
                w.block();
                w.text(&decode(&html[i..end]), true);
                w.block();
            }
            i = memchr(b'>', &b[end..]).map_or(b.len(), |n| end + n + 1);
            continue;
        }
        if !tag.closing && !tag.self_closing && SKIP.contains(&name) {
            skipping = Some((tag.name.clone(), 1));
            continue;
        }
        match (name, tag.closing) {
            ("br", _) => w.newline(),
            ("pre", false) => {
                w.block();
                pre += 1;
            }
            ("pre", true) => {
                pre = pre.saturating_sub(1);
                w.block();
            }
            ("li", false) => {
                w.newline();
                w.raw("- ");
            }
            ("li", true) | ("tr", _) => w.newline(),
            ("td" | "th", false) => w.cell(),
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                w.block();
                let level = usize::from(name.as_bytes()[1] - b'0');
                w.raw(&"#".repeat(level));
                w.raw(" ");
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => w.block(),
            ("a", false) if !tag.self_closing => {
                let href = tag.attr("href").and_then(|h| link(&h, base));
                if href.is_some() {
                    w.raw("[");
                }
                links.push((href, w.out.len()));
            }
            ("a", true) => {
                if let Some((Some(href), start)) = links.pop() {
                    if w.out.len() > start {
                        w.suffix(&format!("]({href})"));
                    } else {
                        // No text: drop the lone "[".
                        w.out.truncate(start.saturating_sub(1));
                    }
                }
            }
            (n, _) if BLOCK.contains(&n) => w.block(),
            _ => {}
        }
    }
    Page {
        title,
        text: w.finish(),
    }
}

/// Text for a short HTML fragment (search-result snippets): tags dropped,
/// entities decoded, whitespace collapsed.
pub(crate) fn fragment(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    collapse(&decode(&out))
}

/// Builds the output: collapses whitespace, keeps at most one blank line.
#[derive(Default)]
struct Writer {
    out: String,
    space: bool,
    /// Newlines wanted before the next text (0..=2).
    breaks: usize,
    row_has_cell: bool,
}

impl Writer {
    fn text(&mut self, s: &str, pre: bool) {
        if pre {
            self.flush();
            self.out.push_str(s);
            return;
        }
        for (i, word) in s.split(char::is_whitespace).enumerate() {
            if i > 0 {
                self.space = true;
            }
            if word.is_empty() {
                continue;
            }
            self.flush();
            self.out.push_str(word);
            self.space = false;
        }
    }

    /// Text that is markup output (`- `, `# `, `[`), not page content.
    fn raw(&mut self, s: &str) {
        self.flush();
        self.out.push_str(s);
        self.space = false;
    }

    /// Closes markup right after the text (`](url)`): no space before it,
    /// pending whitespace and breaks still apply after it.
    fn suffix(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn flush(&mut self) {
        if self.out.is_empty() {
            self.breaks = 0;
        }
        if self.breaks > 0 {
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            for _ in 0..self.breaks {
                self.out.push('\n');
            }
            self.breaks = 0;
            self.space = false;
        } else if self.space && !self.out.is_empty() && !self.out.ends_with(['\n', ' ', '[']) {
            self.out.push(' ');
        }
        self.space = false;
    }

    fn newline(&mut self) {
        self.breaks = self.breaks.max(1);
        self.row_has_cell = false;
    }

    fn block(&mut self) {
        self.breaks = 2;
        self.row_has_cell = false;
    }

    fn cell(&mut self) {
        self.space = false;
        if self.row_has_cell {
            self.raw(" | ");
        }
        self.row_has_cell = true;
    }

    fn finish(mut self) -> String {
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        self.out
    }
}

/// A start or end tag at the beginning of `s` (which starts with `<`).
struct Tag<'a> {
    /// Lower case.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Bytes from `<` through `>`.
    len: usize,
    attrs: &'a str,
}

impl<'a> Tag<'a> {
    fn parse(s: &'a str) -> Option<Tag<'a>> {
        let b = s.as_bytes();
        let mut i = 1;
        let closing = b.get(1) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
            i += 1;
        }
        if i == start || !b[start].is_ascii_alphabetic() {
            return None;
        }
        let name = s[start..i].to_ascii_lowercase();
        let attrs_start = i;
        // Find the closing '>' outside quotes.
        let mut quote: Option<u8> = None;
        while i < b.len() {
            match (quote, b[i]) {
                (Some(q), c) if c == q => quote = None,
                (None, b'"' | b'\'') => quote = Some(b[i]),
                (None, b'>') => break,
                _ => {}
            }
            i += 1;
        }
        let attrs = &s[attrs_start..i.min(b.len())];
        let len = (i + 1).min(b.len());
        let void = matches!(
            name.as_str(),
            "br" | "hr"
                | "img"
                | "input"
                | "meta"
                | "link"
                | "area"
                | "base"
                | "col"
                | "embed"
                | "source"
                | "track"
                | "wbr"
                | "param"
        );
        Some(Tag {
            self_closing: void || attrs.trim_end().ends_with('/'),
            name,
            closing,
            len,
            attrs,
        })
    }

    /// An attribute's decoded value.
    fn attr(&self, key: &str) -> Option<String> {
        let b = self.attrs.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
                i += 1;
            }
            let name = &self.attrs[start..i];
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = "";
            if b.get(i) == Some(&b'=') {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                let (vstart, vend) = match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end = memchr(q, &b[i + 1..]).map_or(b.len(), |n| i + 1 + n);
                        (i + 1, end)
                    }
                    _ => {
                        let end = b[i..]
                            .iter()
                            .position(u8::is_ascii_whitespace)
                            .map_or(b.len(), |n| i + n);
                        (i, end)
                    }
                };
                value = &self.attrs[vstart..vend];
                i = (vend + 1).min(b.len()).max(vend);
            }
            if name.eq_ignore_ascii_case(key) {
                return Some(decode(value).into_owned());
            }
            if i == start {
                i += 1;
            }
        }
        None
    }
}

/// A link target worth showing: http(s), absolute or made absolute.
fn link(href: &str, base: Option<&str>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let lower = href.get(..8).unwrap_or(href).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(href.to_string());
    }
    if lower.contains(':') && !lower.starts_with('/') {
        // mailto:, javascript:, data:...
        let scheme_end = href.find(':').unwrap_or(0);
        if href[..scheme_end]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.')
        {
            return None;
        }
    }
    base.and_then(|b| super::fetch::join(b, href).ok())
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == needle)
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
}

/// Whitespace runs become one space; ends trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_becomes_lines_and_noise_is_dropped() {
        let html = r#"<!DOCTYPE html><html><head><title> The  Page </title>
<style>body{color:red}</style><script>var x = "<p>no</p>";</script></head>
<body><nav><a href="/">Home</a></nav>
<h1>Hello&nbsp;world</h1><p>First   line<br>second &amp; last.</p>
<ul><li>one</li><li>two <b>bold</b></li></ul>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<pre>  keep
   this</pre><!-- hidden --><p>See <a href="/docs?x=1&amp;y=2">the docs</a> or <a href="mailto:a@b">mail</a>.</p>
</body></html>"#;
        let page = to_text(html, Some("https://example.org/a/b"));
        assert_eq!(page.title.as_deref(), Some("The Page"));
        assert_eq!(
            page.text,
            "# Hello world\n\nFirst line\nsecond & last.\n\n- one\n- two bold\n\na | b\n1 | 2\n\n  keep\n   this\n\nSee [the docs](https://example.org/docs?x=1&y=2) or mail."
        );
    }

    #[test]
    fn broken_markup_degrades_to_text() {
        assert_eq!(to_text("a < b and <p>c", None).text, "a < b and\n\nc");
        assert_eq!(to_text("<div>unclosed <script>x", None).text, "unclosed");
        assert_eq!(to_text("x <a href='", None).text, "x");
        assert_eq!(
            to_text("&#x1F600; &#65; &bogus; &", None).text,
            "😀 A &bogus; &"
        );
        assert_eq!(
            to_text("<svg><svg></svg>inner</svg>after", None).text,
            "after"
        );
    }

    #[test]
    fn fragments_lose_their_tags() {
        assert_eq!(
            fragment("The <strong>best</strong>\n tool &amp; more"),
            "The best tool & more"
        );
    }
}
