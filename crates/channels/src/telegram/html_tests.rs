use super::*;
use crate::telegram::render_markdown;

/// Checks one chunk the way Telegram would: only known tags, properly
/// nested, no stray `<`, `>` or `&`, within both limits. Returns the
/// visible text.
fn check(chunk: &str) -> String {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = chunk;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').expect("tag closes");
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop().as_deref(), Some(name), "misnested in {chunk}");
                } else {
                    let name = tag.split(' ').next().unwrap_or("");
                    assert!(
                        ["b", "i", "s", "code", "pre", "a", "blockquote"].contains(&name),
                        "unexpected tag {name}"
                    );
                    assert!(
                        !rest[end + 1..].starts_with(&format!("</{name}>")),
                        "empty <{name}> in {chunk}"
                    );
                    stack.push(name.to_owned());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let (_, len) = decode_entity(rest).expect("valid entity");
                rest = &rest[len..];
            }
            '>' => panic!("stray > in {chunk}"),
            _ => rest = &rest[c.len_utf8()..],
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {chunk}");
    assert!(
        chunk.encode_utf16().count() <= MAX_MESSAGE_LEN,
        "html too long"
    );
    let plain = to_plain(chunk);
    assert!(
        plain.encode_utf16().count() <= MAX_MESSAGE_LEN,
        "text too long"
    );
    assert!(!plain.trim().is_empty(), "empty chunk");
    plain
}

fn render_checked(md: &str) -> Vec<String> {
    let chunks = render_markdown(md);
    for c in &chunks {
        check(c);
    }
    chunks
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn text_is_escaped_and_formatting_becomes_html() {
    assert_eq!(
        render_checked("a < b && c > d"),
        vec!["a &lt; b &amp;&amp; c &gt; d"]
    );
    assert_eq!(
        render_checked("# Plan\n\n**Step 1**: run `ls <dir>`\n\n```sh\necho \"hi\" > f\n```\n\n> note\n- [site](https://e.org)"),
        vec![
            "<b>Plan</b>\n\n<b>Step 1</b>: run <code>ls &lt;dir&gt;</code>\n\n\
             <pre><code class=\"language-sh\">echo \"hi\" &gt; f</code></pre>\n\n\
             <blockquote>note</blockquote>\n• <a href=\"https://e.org\">site</a>"
        ]
    );
}

#[test]
fn empty_and_blank_replies_produce_no_chunks() {
    assert!(render_markdown("").is_empty());
    assert!(render_markdown(" \n\n \t\n").is_empty());
    assert!(render_markdown("```\n```").is_empty());
}

#[test]
fn long_reply_splits_at_paragraphs_and_keeps_every_word() {
    let para = "Lorem ipsum dolor sit amet, consectetur <adipiscing> elit & more. ".repeat(12);
    let md: Vec<String> = (0..30).map(|i| format!("{i}: {para}")).collect();
    let md = md.join("\n\n");
    assert!(md.chars().count() > 20_000);
    let chunks = render_checked(&md);
    assert!(chunks.len() >= 5, "{}", chunks.len());
    let joined: Vec<String> = chunks.iter().map(|c| to_plain(c)).collect();
    assert_eq!(words(&joined.join(" ")), words(&md));
    // Paragraph boundaries are used: every chunk starts a paragraph.
    for c in &chunks {
        let first = c.split(':').next().unwrap_or("");
        assert!(
            first.parse::<u32>().is_ok(),
            "chunk starts mid-paragraph: {}",
            &c[..40]
        );
    }
}

#[test]
fn line_without_spaces_is_cut_hard_at_the_limit() {
    let line = "x".repeat(10_000);
    let chunks = render_checked(&line);
    let lens: Vec<usize> = chunks.iter().map(|c| c.chars().count()).collect();
    assert_eq!(lens, vec![4096, 4096, 1808]);
    assert_eq!(chunks.concat(), line);
}

#[test]
fn emoji_count_double_and_are_never_cut() {
    let line = "😀".repeat(5000);
    let chunks = render_checked(&line);
    let lens: Vec<usize> = chunks.iter().map(|c| c.chars().count()).collect();
    assert_eq!(lens, vec![2048, 2048, 904]);
    assert_eq!(chunks.concat(), line);
}

#[test]
fn joined_emoji_sequences_stay_whole() {
    // family: man ZWJ woman ZWJ girl, 8 UTF-16 units
    let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    let line = family.repeat(1500);
    let chunks = render_checked(&line);
    assert!(chunks.len() >= 3);
    for c in &chunks {
        assert!(
            c.starts_with('\u{1F468}') && c.ends_with('\u{1F467}'),
            "cut inside a family"
        );
    }
    assert_eq!(chunks.concat(), line);
}

#[test]
fn rtl_and_zero_width_text_survive_splitting() {
    let word = "\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200B}\u{0645}\u{0631}\u{062D}\u{0628}\u{0627}";
    let md = vec![word; 1200].join(" ");
    let chunks = render_checked(&md);
    assert!(chunks.len() >= 3);
    let joined: Vec<String> = chunks.iter().map(|c| to_plain(c)).collect();
    assert_eq!(words(&joined.join(" ")), words(&md));
}

#[test]
fn huge_code_block_is_closed_and_reopened_in_every_chunk() {
    let body: Vec<String> = (0..400)
        .map(|i| format!("    let v{i} = a < b && c; // {i:>20}"))
        .collect();
    let md = format!("Here:\n\n```python\n{}\n```\nDone.", body.join("\n"));
    let chunks = render_checked(&md);
    assert!(chunks.len() >= 4, "{}", chunks.len());
    // "Here:" is too short to be a message of its own; it leads the first.
    assert!(chunks[0].starts_with("Here:\n\n<pre><code class=\"language-python\">    let v0 "));
    for c in &chunks[1..] {
        assert!(
            c.starts_with("<pre><code class=\"language-python\">    let v"),
            "{}",
            &c[..60]
        );
    }
    for c in &chunks[..chunks.len() - 1] {
        assert!(c.ends_with("</code></pre>"));
    }
    let last = &chunks[chunks.len() - 1];
    assert!(last.ends_with("</code></pre>\nDone."), "{last}");
    let mut lines = Vec::new();
    for c in &chunks {
        let plain = to_plain(c);
        lines.extend(
            plain
                .lines()
                .filter(|l| l.starts_with("    let"))
                .map(str::to_owned),
        );
    }
    assert_eq!(lines, body);
}

#[test]
fn formatting_that_spans_a_cut_is_reopened() {
    let md = format!("**{}**", "bold words here ".repeat(400).trim_end());
    let chunks = render_checked(&md);
    assert_eq!(chunks.len(), 2);
    for c in &chunks {
        assert!(c.starts_with("<b>") && c.ends_with("</b>"), "{c:.40}");
    }
    let joined: Vec<String> = chunks.iter().map(|c| to_plain(c)).collect();
    assert_eq!(
        words(&joined.join(" ")),
        words(&"bold words here ".repeat(400))
    );
}

#[test]
fn escapes_count_against_the_html_limit() {
    let md = "&".repeat(5000);
    let chunks = render_checked(&md);
    for c in &chunks {
        assert!(c.chars().count() <= MAX_MESSAGE_LEN);
    }
    assert_eq!(chunks.iter().map(|c| to_plain(c)).collect::<String>(), md);
}

#[test]
fn plain_text_fallback_strips_tags_and_decodes_entities() {
    assert_eq!(
        to_plain("<b>a &lt;b&gt;</b> &amp; <a href=\"x\">l</a> &#39;&#x1F600;&bogus; &"),
        "a <b> & l '😀&bogus; &"
    );
}
