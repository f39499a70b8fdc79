//! What every section's resolver needs: positioned errors, `${VAR}`
//! expansion, paths relative to the config file, secrets, range checks.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use crate::locate::position_of;
use crate::secret::{expand_env, is_env_only, read_secret_file, Secret, SecretSource};
use crate::ConfigError;

pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub src: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Every `*_file` secret read, so the sandbox can hide them from tools.
    pub secret_files: RefCell<Vec<PathBuf>>,
}

impl Ctx<'_> {
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let (line, col) = position_of(self.src, key);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        expand_env(value, self.env).map_err(|m| self.invalid(key, m))
    }

    /// A path from the file: `${VAR}` expanded, relative paths taken from the
    /// config file's directory (not the service's working directory).
    pub fn path_value(&self, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        let expanded = self.expand(key, value)?;
        if expanded.trim().is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        let p = PathBuf::from(expanded);
        Ok(if p.is_absolute() {
            p
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        })
    }

    /// Resolves `key` / `key_file`: at most one may be set.
    pub fn secret(
        &self,
        table: &str,
        name: &str,
        inline: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<(Secret, SecretSource)>, ConfigError> {
        let key = format!("{table}.{name}");
        let file_key = format!("{table}.{name}_file");
        match (inline, file) {
            (Some(_), Some(_)) => Err(self.invalid(
                &file_key,
                format!("set either {name} or {name}_file, not both"),
            )),
            (Some(v), None) => {
                let source = if is_env_only(v) {
                    SecretSource::Env
                } else {
                    SecretSource::Inline
                };
                let value = self.expand(&key, v)?;
                if value.trim().is_empty() {
                    return Err(self.invalid(&key, "is empty"));
                }
                Ok(Some((Secret::new(value), source)))
            }
            (None, Some(f)) => {
                let p = self.path_value(&file_key, f)?;
                let value = read_secret_file(&p).map_err(|m| self.invalid(&file_key, m))?;
                self.secret_files.borrow_mut().push(p);
                Ok(Some((Secret::new(value), SecretSource::File)))
            }
            (None, None) => Ok(None),
        }
    }

    /// `value` or `default`, refused outside `min..=max`.
    pub fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        key: &str,
        value: Option<T>,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let v = value.unwrap_or(default);
        if v < min || v > max {
            return Err(self.invalid(key, format!("{v} is out of range {min}..={max}")));
        }
        Ok(v)
    }

    /// Seconds with a default given as a `Duration`.
    pub fn secs(
        &self,
        key: &str,
        value: Option<u64>,
        default: std::time::Duration,
        min: u64,
        max: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        self.range(key, value, default.as_secs(), min, max)
            .map(std::time::Duration::from_secs)
    }

    /// An `http(s)://host…` URL, trailing `/` dropped.
    pub fn url(&self, key: &str, url: String) -> Result<String, ConfigError> {
        let url = url.trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("{url:?} must start with https:// (or http:// for a local server)"),
                )
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(self.invalid(key, format!("{url:?} has no host")));
        }
        Ok(url)
    }
}
