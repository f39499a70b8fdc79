//! A minimal reader for the YAML frontmatter of `SKILL.md`.
//!
//! Why not a YAML crate: the documented keys are `name` and `description`
//! (strings) and an optional `metadata` map of strings; other top-level
//! keys of the skill format (`license`, `allowed-tools`, `compatibility`)
//! are strings too. What is accepted here, per top-level key:
//!
//! - plain values (`key: text`, to the end of the line, a ` #` comment
//!   dropped), `"double"` quoted (with `\"`, `\\`, `\n`, `\t`, `\uXXXX`
//!   escapes) and `'single'` quoted (`''` for a quote), on one line;
//! - block scalars (`key: |` literal, `key: >` folded, with chomping
//!   indicators) and a plain value continued on indented lines;
//! - `metadata:` followed by indented `key: value` lines.
//!
//! Anything else YAML can say (anchors, tags, flow collections or lists
//! for the documented keys, multi-line quoted strings, tabs in
//! indentation) is an error naming the line, so a skill never silently
//! means something other than what its author wrote; unknown keys with
//! nested content are skipped. One deliberate leniency: a plain value may
//! contain `: ` (YAML proper would refuse it; people write descriptions
//! like "Use this: when...").

/// What the frontmatter says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontmatter {
    pub name: String,
    pub description: String,
    /// `metadata:` entries, in file order.
    pub metadata: Vec<(String, String)>,
    /// Other top-level keys with a scalar value (`license`...), as read.
    pub other: Vec<(String, String)>,
}

enum Nested {
    None,
    Metadata,
    /// A block scalar (or a plain value continued below its key).
    Block {
        key: String,
        folded: bool,
        indent: Option<usize>,
        lines: Vec<String>,
    },
    /// An unknown key's nested content: skipped.
    Skip,
}

/// Splits a `SKILL.md` into its frontmatter and body. `Err` says what is
/// wrong and on which line (the opening `---` is line 1).
pub fn parse(text: &str) -> Result<(Frontmatter, &str), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rest = match text.split_once('\n') {
        Some((first, rest)) if first.trim_end() == "---" => rest,
        _ => return Err("does not start with a `---` frontmatter line".into()),
    };
    let mut fm = Frontmatter::default();
    let mut nested = Nested::None;
    let mut line_no = 1;
    loop {
        let (raw, next) = match rest.split_once('\n') {
            Some((l, n)) => (l, Some(n)),
            None if rest.is_empty() => {
                return Err("the frontmatter is not closed (no `---` line after it)".into())
            }
            None => (rest, None),
        };
        line_no += 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim_end() == "---" || line.trim_end() == "..." {
            finish(&mut fm, std::mem::replace(&mut nested, Nested::None))?;
            check(&fm)?;
            return Ok((fm, next.unwrap_or("")));
        }
        let at = |m: String| format!("line {line_no}: {m}");
        line_of(&mut fm, &mut nested, line).map_err(at)?;
        rest = match next {
            Some(n) => n,
            None => return Err("the frontmatter is not closed (no `---` line after it)".into()),
        };
    }
}

fn check(fm: &Frontmatter) -> Result<(), String> {
    if fm.name.is_empty() {
        return Err("`name` is missing".into());
    }
    if fm.description.trim().is_empty() {
        return Err("`description` is missing".into());
    }
    Ok(())
}

fn line_of(fm: &mut Frontmatter, nested: &mut Nested, line: &str) -> Result<(), String> {
    let trimmed = line.trim();
    let indent = line.len() - line.trim_start_matches(' ').len();
    if let Nested::Block {
        indent: block,
        lines,
        ..
    } = nested
    {
        if trimmed.is_empty() {
            lines.push(String::new());
            return Ok(());
        }
        if indent > 0 {
            let want = *block.get_or_insert(indent);
            if indent < want {
                return Err("less indented than the block above it".into());
            }
            lines.push(line[want..].to_string());
            return Ok(());
        }
    }
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(());
    }
    if line[indent..].starts_with('\t') {
        return Err("tabs are not allowed in YAML indentation".into());
    }
    if indent > 0 {
        return match nested {
            Nested::Metadata => {
                let (k, v) = key_value(trimmed)?;
                let v = scalar(v)?.ok_or_else(|| {
                    format!("metadata `{k}` must be a string, not a nested value")
                })?;
                fm.metadata.push((k.to_string(), v));
                Ok(())
            }
            Nested::Skip => Ok(()),
            _ => Err("unexpected indented line".into()),
        };
    }
    finish(fm, std::mem::replace(nested, Nested::None))?;
    let (key, value) = key_value(trimmed)?;
    let known = matches!(key, "name" | "description" | "metadata");
    if (key == "name" && !fm.name.is_empty())
        || (key == "description" && !fm.description.is_empty())
    {
        return Err(format!("`{key}` is given twice"));
    }
    if key == "metadata" {
        if !value.is_empty() && !value.starts_with('#') {
            return Err("write `metadata` as indented `key: value` lines below it".into());
        }
        *nested = Nested::Metadata;
        return Ok(());
    }
    if let Some(folded) = block_indicator(value) {
        *nested = Nested::Block {
            key: key.to_string(),
            folded,
            indent: None,
            lines: Vec::new(),
        };
        return Ok(());
    }
    match scalar(value) {
        Ok(Some(v)) => set(fm, key, v),
        // `key:` with the value on the lines below.
        Ok(None) if known => {
            *nested = Nested::Block {
                key: key.to_string(),
                folded: true,
                indent: None,
                lines: Vec::new(),
            }
        }
        Ok(None) => *nested = Nested::Skip,
        Err(e) if known => return Err(format!("`{key}`: {e}")),
        // An unknown key's flow list or map: not ours to read.
        Err(_) => {}
    }
    Ok(())
}

fn key_value(line: &str) -> Result<(&str, &str), String> {
    let Some((key, value)) = line.split_once(':') else {
        return Err(format!("expected `key: value`, found {:?}", cut(line)));
    };
    let key = key.trim();
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{:?} is not a plain key", cut(key)));
    }
    if !value.is_empty() && !value.starts_with(' ') {
        return Err(format!("expected a space after `{key}:`"));
    }
    Ok((key, value.trim()))
}

fn cut(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `|`, `>` with optional chomping/indent indicators: `Some(folded)`.
fn block_indicator(value: &str) -> Option<bool> {
    let v = value.split(" #").next().unwrap_or("").trim();
    let (first, rest) = v.split_at(v.chars().next()?.len_utf8());
    let folded = match first {
        "|" => false,
        ">" => true,
        _ => return None,
    };
    rest.chars()
        .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
        .then_some(folded)
}

/// One-line scalar: `Ok(None)` for an empty value (content below).
fn scalar(value: &str) -> Result<Option<String>, String> {
    let Some(first) = value.chars().next() else {
        return Ok(None);
    };
    match first {
        '#' => Ok(None),
        '"' => double_quoted(&value[1..]).map(Some),
        '\'' => single_quoted(&value[1..]).map(Some),
        '[' | '{' => Err("lists and maps are not supported here; write a string".into()),
        '&' | '*' | '!' => Err("anchors, aliases and tags are not supported".into()),
        '|' | '>' => Err("a block scalar is not supported here".into()),
        _ => {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            Ok(Some(v.trim().to_string()))
        }
    }
}

fn after_quote(rest: &str) -> Result<(), String> {
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(format!(
            "unexpected {:?} after the closing quote",
            cut(rest)
        ))
    }
}

fn double_quoted(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                after_quote(&s[i + 1..])?;
                return Ok(out);
            }
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(e @ ('"' | '\\' | '/' | ' ')) => out.push(e),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                    let c = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("bad escape \\u{hex}"))?;
                    out.push(c);
                }
                other => return Err(format!("unsupported escape \\{}", other.unwrap_or(' '))),
            },
            c => out.push(c),
        }
    }
    Err("multi-line quoted strings are not supported; close the quote on the same line".into())
}

fn single_quoted(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            after_quote(&s[i + 1..])?;
            return Ok(out);
        }
        out.push(c);
    }
    Err("multi-line quoted strings are not supported; close the quote on the same line".into())
}

fn finish(fm: &mut Frontmatter, nested: Nested) -> Result<(), String> {
    let Nested::Block {
        key, folded, lines, ..
    } = nested
    else {
        return Ok(());
    };
    let text = if folded {
        // Folding: lines join with a space; an empty line is a newline.
        let mut out = String::new();
        for l in &lines {
            if l.is_empty() {
                out.push('\n');
            } else {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push(' ');
                }
                out.push_str(l.trim_end());
            }
        }
        out
    } else {
        lines.join("\n")
    };
    set(fm, &key, text.trim().to_string());
    Ok(())
}

fn set(fm: &mut Frontmatter, key: &str, value: String) {
    match key {
        "name" => fm.name = value,
        "description" => fm.description = value,
        _ => fm.other.push((key.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> (Frontmatter, &str) {
        parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
    }

    #[test]
    fn plain_quoted_and_metadata_values_are_read_and_the_body_follows() {
        let (fm, body) = ok("---\nname: pdf-tools\ndescription: \"Fill \\\"PDF\\\" forms\" # why\nlicense: 'It''s MIT'\nmetadata:\n  author: ada\n  version: \"1.2\"\n---\n# Body\ntext\n");
        assert_eq!(
            fm,
            Frontmatter {
                name: "pdf-tools".into(),
                description: "Fill \"PDF\" forms".into(),
                metadata: vec![
                    ("author".into(), "ada".into()),
                    ("version".into(), "1.2".into())
                ],
                other: vec![("license".into(), "It's MIT".into())],
            }
        );
        assert_eq!(body, "# Body\ntext\n");
    }

    #[test]
    fn block_scalars_and_continued_plain_values_fold_to_one_description() {
        let (fm, _) = ok("---\nname: a\ndescription: >-\n  Folded over\n  two lines.\n---\n");
        assert_eq!(fm.description, "Folded over two lines.");
        let (fm, _) = ok("---\nname: a\ndescription: |\n  line one\n    indented\n---\n");
        assert_eq!(fm.description, "line one\n  indented");
        let (fm, _) = ok("---\nname: a\ndescription:\n  on the next line\n  and on.\n---\n");
        assert_eq!(fm.description, "on the next line and on.");
    }

    #[test]
    fn crlf_a_bom_comments_unknown_nested_keys_and_colons_in_text_are_tolerated() {
        let (fm, body) = ok("\u{feff}---\r\n# a comment\r\nname: a\r\ndescription: Use this: when asked\r\nallowed-tools:\r\n  - Read\r\n---\r\nbody");
        assert_eq!(fm.description, "Use this: when asked");
        assert_eq!(body, "body");
    }

    #[test]
    fn what_the_parser_does_not_understand_is_an_error_naming_the_line() {
        for (src, want) in [
            ("# no frontmatter\n", "does not start"),
            ("---\nname: a\ndescription: b\n", "not closed"),
            ("---\nname: a\n---\n", "`description` is missing"),
            ("---\ndescription: b\n---\n", "`name` is missing"),
            (
                "---\nname: [a, b]\ndescription: x\n---\n",
                "line 2: `name`: lists",
            ),
            (
                "---\nname: a\ndescription: \"open\n---\n",
                "line 3: `description`: multi-line",
            ),
            (
                "---\nname: &x a\ndescription: b\n---\n",
                "line 2: `name`: anchors",
            ),
            (
                "---\nname: a\nname: b\ndescription: c\n---\n",
                "line 3: `name` is given twice",
            ),
            (
                "---\nname: a\ndescription: b\nmetadata:\n  x:\n    y: z\n---\n",
                "line 5: metadata `x`",
            ),
            (
                "---\nname: a\ndescription: b\nmetadata: {x: y}\n---\n",
                "line 4: write `metadata`",
            ),
            ("---\nname: a\n\tdescription: b\n---\n", "line 3: tabs"),
            ("---\nname a\n---\n", "line 2: expected `key: value`"),
            ("---\n  name: a\n---\n", "line 2: unexpected indented line"),
        ] {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src:?}: {err}");
        }
    }
}
