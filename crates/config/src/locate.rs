//! Maps byte offsets and key paths in the TOML source to `line:col` and back.
//!
//! toml's errors carry a byte span but not the key path, and our own
//! validation knows the key path but not the position. Reading the table
//! headers above a line recovers both without a second parser — enough for
//! hand-written config files (dotted keys and inline tables fall back to the
//! enclosing header's position).

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// The key path (`providers[1].model`) of the key on the line holding
/// `offset`, judged by the table headers above it.
pub fn key_path_at(src: &str, offset: usize) -> String {
    let (line_no, _) = line_col(src, offset);
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let t = strip_comment(line).trim();
        if let Some(name) = header(t) {
            table = name;
            if t.starts_with("[[") {
                let idx = bump(&mut counts, &table);
                table = format!("{table}[{idx}]");
            }
            if i + 1 == line_no {
                return table;
            }
            continue;
        }
        if i + 1 == line_no {
            let key = t.split_once('=').map(|(k, _)| unquote(k.trim()));
            return match key {
                Some(k) if table.is_empty() => k,
                Some(k) => format!("{table}.{k}"),
                None => table,
            };
        }
    }
    table
}

/// Where `path` (`channels.telegram.token`, `providers[0].kind`,
/// `channels.discord.allow_from[2]`) is set: the key's line when found (an
/// array element is reported at its key), else its table header, else 1:1.
pub fn position_of(src: &str, path: &str) -> (usize, usize) {
    let (table_path, key) = match path.rsplit_once('.') {
        Some((t, k)) => (t.to_string(), k.to_string()),
        None => (String::new(), path.to_string()),
    };
    let key = match key.split_once('[') {
        Some((k, _)) if key.ends_with(']') => k.to_string(),
        _ => key,
    };
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut header_pos = None;
    for (i, line) in src.lines().enumerate() {
        let t = strip_comment(line).trim();
        if let Some(name) = header(t) {
            table = name;
            if t.starts_with("[[") {
                let idx = bump(&mut counts, &table);
                table = format!("{table}[{idx}]");
            }
            if table == path || table == table_path {
                header_pos.get_or_insert((i + 1, 1));
            }
            continue;
        }
        if table == table_path {
            if let Some((k, _)) = t.split_once('=') {
                if unquote(k.trim()) == key {
                    let col = line.len() - line.trim_start().len() + 1;
                    return (i + 1, col);
                }
            }
        }
    }
    header_pos.unwrap_or((1, 1))
}

fn header(t: &str) -> Option<String> {
    let inner = t
        .strip_prefix("[[")
        .and_then(|s| s.strip_suffix("]]"))
        .or_else(|| t.strip_prefix('[').and_then(|s| s.strip_suffix(']')))?;
    Some(
        inner
            .split('.')
            .map(|p| unquote(p.trim()))
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn bump(counts: &mut Vec<(String, usize)>, name: &str) -> usize {
    if let Some(entry) = counts.iter_mut().find(|(n, _)| n == name) {
        entry.1 += 1;
        entry.1
    } else {
        counts.push((name.to_string(), 0));
        0
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '"' || c == '\'').to_string()
}

fn strip_comment(line: &str) -> &str {
    // Good enough for keys and headers: a '#' inside a quoted value only
    // matters after the '=', which we never read.
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' | '\'' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "[agent]\nworkspace = \"/w\"\n\n[[providers]]\nname = \"a\"\n\n[[providers]]\nname = \"b\"\nmodel = 3\n\n[channels.telegram]\ntoken = \"x\" # secret\n";

    #[test]
    fn key_path_names_array_tables_by_index() {
        let off = SRC.find("model = 3").unwrap();
        assert_eq!(key_path_at(SRC, off + 8), "providers[1].model");
        assert_eq!(line_col(SRC, off + 8), (9, 9));
    }

    #[test]
    fn position_of_finds_keys_in_dotted_tables() {
        assert_eq!(position_of(SRC, "channels.telegram.token"), (12, 1));
        assert_eq!(position_of(SRC, "providers[1].name"), (8, 1));
        assert_eq!(position_of(SRC, "providers[1].kind"), (7, 1));
        assert_eq!(position_of(SRC, "nowhere.key"), (1, 1));
    }
}
