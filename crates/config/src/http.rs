//! `[http]`: what every outbound connection shares (Telegram, providers,
//! and later Discord, web fetch, MCP over HTTP). Today: which CA
//! certificates are trusted on top of the built-in webpki roots.

use std::fmt::Write;

use picoclaw_http::{CaFile, Trust};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::q;
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Extra trusted CA certificates, read and checked at load time.
    /// `None`: the built-in webpki roots only.
    pub ca_file: Option<CaFile>,
}

impl HttpConfig {
    /// The roots to install process-wide ([`picoclaw_http::install`]).
    pub fn trust(&self) -> Trust {
        Trust::new(self.ca_file.clone())
    }
}

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawHttp>) -> Result<HttpConfig, ConfigError> {
    let h = raw.unwrap_or_default();
    let ca_file = match h.ca_file {
        None => None,
        Some(v) => {
            let key = "http.ca_file";
            let path = ctx.path_value(key, &v)?;
            // Read now: a wrong path is a config error (exit 2) at start-up,
            // not a handshake failure on the first request.
            Some(CaFile::load(&path).map_err(|e| ctx.invalid(key, e.to_string()))?)
        }
    };
    Ok(HttpConfig { ca_file })
}

pub(crate) fn render(h: &HttpConfig, o: &mut String) {
    let _ = writeln!(o, "[http]");
    match &h.ca_file {
        Some(ca) => {
            let _ = writeln!(
                o,
                "ca_file = {}  # {} certificate(s), trusted with the built-in webpki roots\n",
                q(&ca.path().display().to_string()),
                ca.len()
            );
        }
        None => {
            let _ = writeln!(o, "# ca_file unset: built-in webpki roots only\n");
        }
    }
}
