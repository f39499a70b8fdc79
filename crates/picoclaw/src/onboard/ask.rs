//! Onboarding's questions: on a terminal each value is asked (keys with
//! echo off); otherwise it comes from flags and the environment, and a
//! missing one takes its default.

use std::io::{BufRead, Write};

use crate::Failure;

/// Questions on a terminal, flags and the environment otherwise.
pub(super) struct Ask {
    pub(super) interactive: bool,
}

impl Ask {
    /// `given`, else (on a terminal) the answer to `question` with
    /// `default` on an empty line, else `default`.
    pub(super) fn value(
        &self,
        given: Option<String>,
        question: &str,
        default: &str,
    ) -> Result<String, Failure> {
        if let Some(v) = given {
            return Ok(v.trim().to_string());
        }
        if !self.interactive {
            return Ok(default.to_string());
        }
        let shown = if default.is_empty() {
            String::new()
        } else {
            format!(" [{default}]")
        };
        let line = prompt(&format!("{question}{shown}: "), false)?;
        Ok(if line.is_empty() {
            default.to_string()
        } else {
            line
        })
    }

    /// A secret: `given`, else `env`, else (on a terminal) typed without
    /// echo. Empty is `None`.
    pub(super) fn secret(
        &self,
        given: Option<String>,
        env: Option<&str>,
        question: &str,
    ) -> Result<Option<String>, Failure> {
        let from_env = env.and_then(|e| std::env::var(e).ok());
        if let Some(v) = given.or(from_env).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(v.trim().to_string()));
        }
        if !self.interactive {
            return Ok(None);
        }
        let line = prompt(&format!("{question}: "), true)?;
        Ok(Some(line).filter(|l| !l.is_empty()))
    }
}

/// Prints `question` and reads a line from stdin; `hidden` turns echo off
/// for the line (a key typed on a shared screen).
fn prompt(question: &str, hidden: bool) -> Result<String, Failure> {
    let mut out = std::io::stdout();
    let _ = write!(out, "{question}");
    let _ = out.flush();
    let _echo = hidden.then(NoEcho::new);
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Runtime(format!("stdin: {e}")))?;
    if hidden {
        let _ = writeln!(out);
    }
    if n == 0 {
        return Err(Failure::Config(String::from(
            "onboard: input ended before every question was answered",
        )));
    }
    Ok(line.trim().to_string())
}

/// Terminal echo off until dropped.
struct NoEcho(Option<libc::termios>);

impl NoEcho {
    fn new() -> NoEcho {
        // SAFETY: tcgetattr/tcsetattr on stdin with a termios we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return NoEcho(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            NoEcho(Some(saved))
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
