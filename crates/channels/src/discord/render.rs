//! Model Markdown → Discord message chunks. Discord renders Markdown
//! itself, so the text goes out as written, cut into messages of at most
//! [`MAX_MESSAGE_LEN`] characters: at a paragraph, line or word boundary
//! ([`find_break`]), never inside a character, and never leaving a code
//! block open — a block longer than one message is closed at the cut and
//! reopened, with its language, in the next.

use crate::split::find_break;

/// Discord's content limit. Counted in UTF-16 units, as Discord's clients
/// do (an emoji outside the BMP is two), which is never less than the
/// number of characters.
pub const MAX_MESSAGE_LEN: usize = 2000;

const CLOSE: &str = "\n```";

/// Splits `markdown` into chunks of at most `limit` UTF-16 units.
pub(crate) fn chunks(markdown: &str, limit: usize) -> Vec<String> {
    let text: Vec<char> = markdown.trim_end().chars().collect();
    let fences = Fences::scan(&text);
    let limit = limit.max(64);
    let mut out = Vec::new();
    let mut start = skip_newlines(&text, 0);
    // The fence line to repeat at the top of the next chunk.
    let mut reopen: Option<String> = None;
    while start < text.len() {
        let prefix = reopen.take().map(|o| format!("{o}\n")).unwrap_or_default();
        let budget = limit - units(&prefix);
        if units_of(&text[start..]) <= budget {
            out.push(format!("{prefix}{}", collect(&text[start..])));
            break;
        }
        // Room for closing a block at the cut, whether or not it is needed.
        let max_end = reach(&text, start, budget - CLOSE.len());
        let (mut end, mut next) = find_break(&text, start, max_end);
        if let Some(open) = fences.open_at(end) {
            // Rather move a whole block to the next message than cut it,
            // when that leaves this one reasonably full.
            let quarter = start + (max_end - start) / 4;
            if open.line_start > quarter {
                end = open.line_start;
                next = open.line_start;
            }
        }
        let mut piece = collect(&text[start..end]).trim_end().to_owned();
        if let Some(open) = fences.open_at(end) {
            piece.push_str(CLOSE);
            reopen = Some(open.opener.clone());
        }
        if !piece.trim().is_empty() || !prefix.is_empty() {
            out.push(format!("{prefix}{piece}"));
        }
        start = if reopen.is_some() {
            next.max(start + 1)
        } else {
            skip_newlines(&text, next.max(start + 1))
        };
    }
    out
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

fn units_of(chars: &[char]) -> usize {
    chars.iter().map(|c| c.len_utf16()).sum()
}

fn collect(chars: &[char]) -> String {
    chars.iter().collect()
}

fn skip_newlines(text: &[char], mut i: usize) -> usize {
    while i < text.len() && text[i] == '\n' {
        i += 1;
    }
    i
}

/// The furthest index such that `text[start..end]` fits `budget` units
/// (always past `start`, and below `text.len()`).
fn reach(text: &[char], start: usize, budget: usize) -> usize {
    let mut used = 0;
    let mut end = start;
    while end < text.len() - 1 {
        let u = text[end].len_utf16();
        if used + u > budget {
            break;
        }
        used += u;
        end += 1;
    }
    end.max(start + 1)
}

/// An open code block.
#[derive(Debug, Clone)]
struct Open {
    /// Index of the first character of its opening fence line.
    line_start: usize,
    /// That line as written (```` ```rust ````), to reopen with.
    opener: String,
}

/// Where the fenced code blocks are: each entry is an opening fence and
/// the index just past its closing fence line (or the end of the text).
struct Fences {
    blocks: Vec<(Open, usize)>,
}

impl Fences {
    fn scan(text: &[char]) -> Fences {
        let mut blocks = Vec::new();
        let mut open: Option<(Open, char)> = None;
        let mut line_start = 0;
        while line_start < text.len() {
            let line_end = text[line_start..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(text.len(), |p| line_start + p);
            let line: String = text[line_start..line_end].iter().collect();
            let trimmed = line.trim_start();
            let fence = ['`', '~']
                .into_iter()
                .find(|&f| trimmed.starts_with(&String::from(f).repeat(3)));
            match (&open, fence) {
                (None, Some(f)) => {
                    // Reopen with the language only: a long info string
                    // would eat the next message's room.
                    let opener = trimmed.split_whitespace().next().unwrap_or("```");
                    let opener = if opener.chars().count() > 24 {
                        String::from(f).repeat(3)
                    } else {
                        opener.to_owned()
                    };
                    open = Some((Open { line_start, opener }, f));
                }
                (Some((_, f)), Some(g)) if *f == g && trimmed.trim_matches(g).trim().is_empty() => {
                    if let Some((o, _)) = open.take() {
                        blocks.push((o, line_end));
                    }
                }
                _ => {}
            }
            line_start = line_end + 1;
        }
        if let Some((o, _)) = open {
            blocks.push((o, text.len()));
        }
        Fences { blocks }
    }

    /// The block a cut at `at` would fall inside: after the end of its
    /// opening line and before the end of its closing line.
    fn open_at(&self, at: usize) -> Option<&Open> {
        self.blocks
            .iter()
            .find(|(o, close_end)| o.line_start < at && at < *close_end)
            .map(|(o, _)| o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fences_balanced(chunk: &str) -> bool {
        chunk
            .lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count()
            % 2
            == 0
    }

    #[test]
    fn short_text_is_one_chunk_as_written() {
        assert_eq!(chunks("**hi** _there_", 2000), vec!["**hi** _there_"]);
        assert_eq!(chunks("", 2000), Vec::<String>::new());
    }

    #[test]
    fn a_4500_character_reply_is_three_messages_cut_at_paragraphs() {
        let para = "x".repeat(899);
        let text = vec![para.clone(); 5].join("\n\n");
        assert_eq!(text.chars().count(), 4503);
        let out = chunks(&text, 2000);
        assert_eq!(
            out.len(),
            3,
            "{:?}",
            out.iter().map(|c| c.len()).collect::<Vec<_>>()
        );
        assert_eq!(out[0], format!("{para}\n\n{para}"));
        assert_eq!(out[2], para);
        assert!(out.iter().all(|c| units(c) <= 2000));
    }

    #[test]
    fn a_long_code_block_is_closed_and_reopened_with_its_language() {
        let code: Vec<String> = (0..300).map(|i| format!("let v{i} = {i};")).collect();
        let text = format!("Here:\n\n```rust\n{}\n```\n\nDone.", code.join("\n"));
        let out = chunks(&text, 2000);
        assert!(out.len() >= 3, "{}", out.len());
        for c in &out {
            assert!(units(c) <= 2000, "{}", units(c));
            assert!(fences_balanced(c), "unbalanced chunk:\n{c}");
        }
        assert!(out[1].starts_with("```rust\n"), "{}", out[1]);
        // Every line of code arrives once, in order.
        let joined: String = out.join("\n");
        let lines: Vec<&str> = joined.lines().filter(|l| l.starts_with("let ")).collect();
        assert_eq!(lines, code.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn a_block_that_would_be_cut_moves_whole_to_the_next_message() {
        let code = "code line\n".repeat(60);
        let text = format!("{}\n```\n{code}```", "word ".repeat(300).trim_end());
        let out = chunks(&text, 2000);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], "word ".repeat(300).trim_end());
        assert_eq!(out[1], format!("```\n{code}```"));
    }

    #[test]
    fn cuts_never_split_a_character_and_count_utf16_units() {
        let text = "😀".repeat(1500);
        let out = chunks(&text, 2000);
        assert_eq!(out.len(), 2);
        assert_eq!(units(&out[0]), 1996);
        assert_eq!(out.concat(), text);
    }
}
