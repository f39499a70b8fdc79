//! Telegram's HTML parse mode, checked the way the Bot API documents it
//! (<https://core.telegram.org/bots/api#html-style>): only the listed tags,
//! properly nested, `<`, `>` and `&` escaped outside tags, only the four
//! named entities plus numeric ones, and the nesting restrictions of
//! <https://core.telegram.org/bots/api#formatting-options>. Where the docs
//! leave room this is on the strict side, so client escaping bugs show up.

/// The kinds of entity a tag produces; aliases map to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bold,
    Italic,
    Underline,
    Strike,
    Spoiler,
    Link,
    Code,
    Pre,
    Quote,
    Emoji,
}

impl Kind {
    fn formatting(self) -> bool {
        matches!(
            self,
            Kind::Bold | Kind::Italic | Kind::Underline | Kind::Strike | Kind::Spoiler
        )
    }
}

struct Open {
    name: String,
    kind: Kind,
}

/// Parses `text` as Telegram HTML; returns the visible text or the
/// description Telegram would put after "can't parse entities: ".
pub(crate) fn parse(text: &str) -> Result<String, String> {
    let mut visible = String::with_capacity(text.len());
    let mut stack: Vec<Open> = Vec::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(rel) = text[i..].find('>') else {
                    return Err(format!("Unclosed start tag at byte offset {i}"));
                };
                let inner = &text[i + 1..i + rel];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open.name == name => {}
                        Some(open) => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                                open.name
                            ))
                        }
                        None => {
                            return Err(format!(
                                "Unexpected end tag at byte offset {i}"
                            ))
                        }
                    }
                } else {
                    let open = start_tag(inner, i)?;
                    check_nesting(&stack, open.kind, i)?;
                    stack.push(open);
                }
                i += rel + 1;
            }
            b'>' => return Err(format!("Character '>' must be escaped at byte offset {i}")),
            b'&' => {
                let (ch, len) = entity(&text[i..])
                    .ok_or_else(|| format!("Unsupported HTML entity at byte offset {i}"))?;
                visible.push(ch);
                i += len;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
                visible.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    Ok(visible)
}

fn start_tag(inner: &str, at: usize) -> Result<Open, String> {
    let inner = inner.trim_end_matches('/').trim();
    let name_end = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    let attrs = attributes(&inner[name_end..])
        .ok_or_else(|| format!("Can't parse attributes of tag \"{name}\" at byte offset {at}"))?;
    let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let kind = match name.as_str() {
        "b" | "strong" => Kind::Bold,
        "i" | "em" => Kind::Italic,
        "u" | "ins" => Kind::Underline,
        "s" | "strike" | "del" => Kind::Strike,
        "tg-spoiler" => Kind::Spoiler,
        "span" if attr("class") == Some("tg-spoiler") => Kind::Spoiler,
        "a" => match attr("href") {
            Some(h) if !h.trim().is_empty() => Kind::Link,
            _ => {
                return Err(format!(
                    "Can't find href attribute of tag \"a\" at byte offset {at}"
                ))
            }
        },
        "code" => Kind::Code,
        "pre" => Kind::Pre,
        "blockquote" => Kind::Quote,
        "tg-emoji" if attr("emoji-id").is_some() => Kind::Emoji,
        _ => {
            return Err(format!(
                "Unsupported start tag \"{name}\" at byte offset {at}"
            ))
        }
    };
    Ok(Open { name, kind })
}

/// `name="v" name='v' name=v name` → pairs with entities decoded.
fn attributes(mut s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Some(out);
        }
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        s = s[name_end..].trim_start();
        let Some(rest) = s.strip_prefix('=') else {
            out.push((name, String::new()));
            continue;
        };
        let rest = rest.trim_start();
        let (raw, after) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = rest[1..].find(q)? + 1;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        out.push((name, decode_all(raw)?));
        s = after;
    }
}

fn decode_all(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s.as_bytes()[i] == b'&' {
            let (ch, len) = entity(&s[i..])?;
            out.push(ch);
            i += len;
        } else {
            let ch = s[i..].chars().next()?;
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    Some(out)
}

/// `&lt;` `&gt;` `&amp;` `&quot;` and `&#N;` / `&#xH;` at the start of `s`.
fn entity(s: &str) -> Option<(char, usize)> {
    let semi = s.bytes().take(12).position(|b| b == b';')?;
    let ch = match &s[1..semi] {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        other => {
            let num = other.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((ch, semi + 1))
}

/// "bold, italic, underline, strikethrough, and spoiler entities can contain
/// and can be part of any other entities, except pre and code; blockquote
/// entities can't be nested; all other entities can't contain each other."
/// A `<code>` directly inside `<pre>` is the documented way to give a
/// language. Blockquotes are allowed to hold links and code, which the
/// clients render.
fn check_nesting(stack: &[Open], inner: Kind, at: usize) -> Result<(), String> {
    let Some(parent) = stack.last() else {
        return Ok(());
    };
    for outer in stack {
        let ok = match (outer.kind, inner) {
            (Kind::Pre, Kind::Code) => std::ptr::eq(outer, parent),
            (Kind::Code | Kind::Pre, _) => false,
            (f, Kind::Code | Kind::Pre) if f.formatting() => false,
            (_, i) if i.formatting() => true,
            (Kind::Quote, Kind::Quote) => false,
            (Kind::Quote, _) => true,
            (f, _) if f.formatting() => true,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "Entity \"{inner:?}\" can't be nested in \"{}\" at byte offset {at}",
                outer.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_markup_and_returns_visible_text() {
        let html = "<b>bold</b> <strong><i>x</i></strong> <a href=\"https://e.org/?a=1&amp;b=2\">l</a> \
                    <code>a &lt; b</code> <pre><code class=\"language-rust\">fn x() {}</code></pre> \
                    <blockquote>q <b>b</b> <code>c</code></blockquote> <span class=\"tg-spoiler\">s</span> \
                    &quot;&#39;&#x1F600;";
        assert_eq!(
            parse(html).unwrap(),
            "bold x l a < b fn x() {} q b c s \"'😀"
        );
    }

    #[test]
    fn rejects_what_telegram_refuses() {
        for bad in [
            "a < b",
            "a > b",
            "AT&T",
            "&nbsp;",
            "<p>x</p>",
            "<b>x",
            "<b><i>x</b></i>",
            "x</b>",
            "<a>no href</a>",
            "<span>plain span</span>",
            "<code><b>x</b></code>",
            "<b><code>x</code></b>",
            "<pre>a<pre>b</pre></pre>",
            "<a href=\"x\"><a href=\"y\">z</a></a>",
            "<blockquote><blockquote>x</blockquote></blockquote>",
            "<pre><b><code>x</code></b></pre>",
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
