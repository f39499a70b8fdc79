use std::fmt;
use std::path::Path;

/// A resolved secret. Debug and Display never show it; use
/// [`Secret::expose`] at the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        picoclaw_core::redact::register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        picoclaw_core::redact::mask(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret came from, for check-config and the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Inline,
    Env,
    File,
}

/// Expands `${VAR}` references. `$$` is a literal `$`. An unset variable is
/// an error naming it, rather than silently an empty token.
pub fn expand_env(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err(String::from("unterminated ${...}"));
            };
            let name = &tail[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name {name:?} in ${{...}}"));
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// True when the value is nothing but `${VAR}` references (so the file
/// itself holds no secret).
pub fn is_env_only(value: &str) -> bool {
    let t = value.trim();
    !t.is_empty()
        && t.split("${").skip(1).count() > 0
        && t.split("${").next().is_some_and(str::is_empty)
        && t.split("${").skip(1).all(|part| part.ends_with('}'))
}

/// Reads a secret file (systemd `LoadCredential=` puts them in
/// `$CREDENTIALS_DIRECTORY`). A trailing newline is not part of the secret.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| String::from("abc"))
    }

    #[test]
    fn env_references_expand_and_unset_ones_are_errors() {
        assert_eq!(expand_env("${TOKEN}", &env).unwrap(), "abc");
        assert_eq!(expand_env("a-${TOKEN}-$$-$x", &env).unwrap(), "a-abc-$-$x");
        assert_eq!(
            expand_env("${NOPE}", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        assert!(expand_env("${TOKEN", &env).is_err());
    }

    #[test]
    fn env_only_values_are_recognised() {
        assert!(is_env_only("${A}"));
        assert!(is_env_only("${A}${B}"));
        assert!(!is_env_only("sk-${A}"));
        assert!(!is_env_only("plain"));
    }

    #[test]
    fn secret_debug_output_hides_the_value() {
        let s = Secret::new(String::from("super-secret-value"));
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "super-secret-value");
    }
}
