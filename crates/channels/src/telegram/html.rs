//! Telegram HTML out of [`Tok`]s, cut into messages that each fit the
//! Bot API limit and each stand alone as balanced HTML.
//!
//! The visible text is laid out once with the tags as events at character
//! offsets; a chunk is a range of that text. Tags open at a chunk's end are
//! closed there and reopened at the start of the next chunk, and a tag is
//! only written once text inside it is, so no chunk holds an empty element.
//! Cuts fall between characters of the visible text, never inside a tag, an
//! entity or a UTF-8 sequence.

use super::markdown::{Tag, Tok};
use crate::split::find_break;

/// Telegram's limit for one message: 4096 characters after entity parsing,
/// counted in UTF-16 code units (an emoji outside the BMP counts twice).
pub const MAX_MESSAGE_LEN: usize = 4096;

enum Ev {
    Open(Tag),
    Close,
}

struct Layout {
    text: Vec<char>,
    /// Tag events in document order with the text offset they occur at.
    events: Vec<(usize, Ev)>,
    /// `units[i]` = UTF-16 length of `text[..i]`.
    units: Vec<usize>,
}

fn layout(toks: Vec<Tok>) -> Layout {
    let mut text = Vec::new();
    let mut events = Vec::new();
    for tok in toks {
        match tok {
            Tok::Text(t) => text.extend(t.chars()),
            Tok::Open(tag) => events.push((text.len(), Ev::Open(tag))),
            Tok::Close => events.push((text.len(), Ev::Close)),
        }
    }
    let mut units = Vec::with_capacity(text.len() + 1);
    let mut acc = 0;
    units.push(0);
    for c in &text {
        acc += c.len_utf16();
        units.push(acc);
    }
    Layout {
        text,
        events,
        units,
    }
}

/// The tags open at a point of the document, and which of them have been
/// written into the current chunk.
#[derive(Clone, Default)]
struct Cursor {
    next_event: usize,
    open: Vec<(Tag, bool)>,
}

/// Renders tokens into HTML chunks of at most `limit` UTF-16 units of
/// visible text and of HTML.
pub(crate) fn chunks(toks: Vec<Tok>, limit: usize) -> Vec<String> {
    let doc = layout(toks);
    let n = doc.text.len();
    let limit = limit.max(16);
    let mut out = Vec::new();
    let mut cursor = Cursor::default();
    let mut start = skip_newlines(&doc.text, 0);
    while start < n {
        let mut budget = limit;
        loop {
            let max_end = reach(&doc.units, start, budget);
            let (end, next) = if max_end >= n {
                (n, n)
            } else {
                find_break(&doc.text, start, max_end)
            };
            let mut end = end;
            while end > start && doc.text[end - 1].is_whitespace() {
                end -= 1;
            }
            let mut trial = cursor.clone();
            let html = emit(&doc, &mut trial, start, end);
            let size = html.encode_utf16().count();
            if size <= limit || end <= start + 1 {
                if !html.is_empty() {
                    out.push(html);
                }
                cursor = trial;
                start = skip_newlines(&doc.text, next.max(start + 1));
                break;
            }
            // Escapes and tags made the HTML longer than the text: take
            // proportionally less text and try again.
            let shrunk = budget * limit / size;
            budget = shrunk.min(budget - 1).max(1);
        }
    }
    out
}

/// The furthest end index such that `text[start..end]` fits `budget`
/// UTF-16 units; at least one character.
fn reach(units: &[usize], start: usize, budget: usize) -> usize {
    let target = units[start] + budget;
    // `units` is sorted: find the last index whose prefix fits.
    let end = units.partition_point(|&u| u <= target) - 1;
    end.max(start + 1).min(units.len() - 1)
}

fn skip_newlines(text: &[char], mut i: usize) -> usize {
    while i < text.len() && (text[i] == '\n' || text[i] == '\r') {
        i += 1;
    }
    i
}

/// Writes `text[start..end]` with its tags, advancing `cur` past every
/// event before `end`.
fn emit(doc: &Layout, cur: &mut Cursor, start: usize, end: usize) -> String {
    let mut html = String::new();
    for p in start..end {
        // At `start` this also applies events that sat in the dropped
        // separator before it; they only change which tags are open.
        apply_events(doc, cur, p, &mut html);
        for (tag, written) in cur.open.iter_mut() {
            if !*written {
                html.push('<');
                html.push_str(tag.name);
                html.push_str(&tag.attrs);
                html.push('>');
                *written = true;
            }
        }
        escape_char(doc.text[p], &mut html);
    }
    for (tag, written) in cur.open.iter_mut().rev() {
        if *written {
            html.push_str("</");
            html.push_str(tag.name);
            html.push('>');
            *written = false;
        }
    }
    html
}

/// Applies events at offsets `<= at`. A close of a written tag is written.
fn apply_events(doc: &Layout, cur: &mut Cursor, at: usize, html: &mut String) {
    while let Some((offset, ev)) = doc.events.get(cur.next_event) {
        if *offset > at {
            break;
        }
        match ev {
            Ev::Open(tag) => cur.open.push((tag.clone(), false)),
            Ev::Close => {
                if let Some((tag, true)) = cur.open.pop() {
                    html.push_str("</");
                    html.push_str(tag.name);
                    html.push('>');
                }
            }
        }
        cur.next_event += 1;
    }
}

fn escape_char(c: char, html: &mut String) {
    match c {
        '&' => html.push_str("&amp;"),
        '<' => html.push_str("&lt;"),
        '>' => html.push_str("&gt;"),
        _ => html.push(c),
    }
}

/// The text a reader sees in a chunk of our HTML: tags removed, entities
/// decoded. Used to resend a chunk Telegram could not parse.
pub(crate) fn to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            match rest.find('>') {
                Some(close) => rest = &rest[close + 1..],
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        } else if c == '&' {
            match decode_entity(rest) {
                Some((ch, len)) => {
                    out.push(ch);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Decodes the entity at the start of `s` (`&amp;`, `&#39;`, `&#x1F600;`),
/// returning the character and the entity's byte length.
pub(crate) fn decode_entity(s: &str) -> Option<(char, usize)> {
    let semi = s.bytes().take(12).position(|b| b == b';')?;
    let name = &s[1..semi];
    let ch = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((ch, semi + 1))
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
