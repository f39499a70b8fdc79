//! Where to cut a long message. Shared by every channel with a message size
//! limit: the caller measures how far a chunk may reach, this module picks
//! the most natural place to stop before that.

/// Chooses where a chunk that starts at `start` and may reach at most
/// `max_end` (exclusive, `max_end < text.len()`) should end.
///
/// Preference: a blank line (paragraph or block boundary), then a line
/// break, then a space, then a hard cut that avoids separating a character
/// from the combining marks, variation selectors or zero-width joiner that
/// belong to it. A natural break is only taken when it keeps the chunk at
/// least a quarter full, so one early blank line does not produce a run of
/// tiny messages.
///
/// Returns `(end, next)`: the chunk is `text[start..end]` and the next one
/// starts at `next` (the break character itself is dropped).
pub(crate) fn find_break(text: &[char], start: usize, max_end: usize) -> (usize, usize) {
    debug_assert!(start < max_end && max_end < text.len());
    let floor = start + (max_end - start) / 4;
    let lowest = floor.max(start + 1);
    // The break character may sit exactly at `max_end`: the chunk then ends
    // right before it.
    let candidates = || (lowest..=max_end).rev();
    if let Some(p) = candidates().find(|&p| text[p] == '\n' && p > start + 1 && text[p - 1] == '\n')
    {
        return (p - 1, p + 1);
    }
    if let Some(p) = candidates().find(|&p| text[p] == '\n') {
        return (p, p + 1);
    }
    if let Some(p) = candidates().find(|&p| text[p] != '\n' && text[p].is_whitespace()) {
        return (p, p + 1);
    }
    let mut end = max_end;
    while end > start + 1 && glued(text[end - 1], text[end]) {
        end -= 1;
    }
    if end == start + 1 && glued(text[end - 1], text[end]) {
        // One giant cluster: cut it anyway rather than exceed the limit.
        end = max_end;
    }
    (end, end)
}

/// True when cutting between `before` and `after` would split what a reader
/// sees as one character.
fn glued(before: char, after: char) -> bool {
    const ZWJ: char = '\u{200D}';
    before == ZWJ
        || after == ZWJ
        || matches!(after as u32,
            0x0300..=0x036F      // combining diacritics
            | 0x1AB0..=0x1AFF
            | 0x20D0..=0x20FF    // combining marks for symbols (keycaps)
            | 0xFE00..=0xFE0F    // variation selectors
            | 0x1F3FB..=0x1F3FF  // skin tone modifiers
            | 0xE0020..=0xE007F) // emoji tag sequences (flags of regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn prefers_a_blank_line_over_a_later_line_break() {
        let t = chars("aaaa\n\nbbbb\ncccc");
        assert_eq!(find_break(&t, 0, 12), (4, 6));
    }

    #[test]
    fn falls_back_to_a_line_break_then_a_space() {
        let t = chars("aaaa bbbb\ncccc dddd");
        assert_eq!(find_break(&t, 0, 12), (9, 10));
        let t = chars("aaaa bbbb cccc dddd");
        assert_eq!(find_break(&t, 0, 12), (9, 10));
    }

    #[test]
    fn ignores_breaks_that_would_leave_a_tiny_chunk() {
        let t = chars("a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_eq!(find_break(&t, 0, 20), (20, 20));
    }

    #[test]
    fn hard_cut_keeps_an_emoji_with_its_modifiers() {
        // woman + skin tone + ZWJ + laptop, then more text
        let t = chars("xxxxxxx\u{1F469}\u{1F3FD}\u{200D}\u{1F4BB}yyyy");
        // Cutting at 8 would separate the skin tone from the woman.
        assert_eq!(find_break(&t, 0, 8), (7, 7));
        assert_eq!(find_break(&t, 0, 10), (7, 7));
        assert_eq!(find_break(&t, 0, 11), (11, 11));
    }
}
