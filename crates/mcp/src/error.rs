use std::time::Duration;

/// Why an MCP operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// Server options are unusable (bad name, duplicate name, empty command
    /// or URL). A configuration error; not retryable.
    #[error("invalid MCP server options: {0}")]
    Options(String),
    /// No server with this name is configured.
    #[error("no MCP server named '{0}'")]
    UnknownServer(String),
    /// The server does not offer this tool (any more).
    #[error("MCP server '{server}' has no tool '{tool}'")]
    UnknownTool { server: String, tool: String },
    /// The server is disabled, starting or being restarted. Retryable later.
    #[error("MCP server '{server}' is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    /// The server process could not be started. Retried with backoff.
    #[error("cannot start the server: {0}")]
    Launch(String),
    /// No answer within the deadline; the request was cancelled on the
    /// server. Retryable.
    #[error("no answer within {}s (request cancelled)", .0.as_secs_f32())]
    Timeout(Duration),
    /// The caller cancelled the request; the server was told.
    #[error("cancelled")]
    Cancelled,
    /// The connection ended before the answer came (the server crashed,
    /// exited or was restarted). The server is restarted; retryable.
    #[error("connection to the server lost: {0}")]
    Closed(String),
    /// The server answered with a JSON-RPC error. Not retryable as is.
    #[error("server error {code}: {message}")]
    Rpc { code: i64, message: String },
    /// An HTTP server answered with an unexpected status.
    #[error("HTTP {status}: {body}")]
    HttpStatus { status: u16, body: String },
    /// An HTTP transport failure (connect, TLS, timeout, oversized body).
    #[error("HTTP: {0}")]
    Http(String),
    /// The server broke the protocol (unsupported version, malformed
    /// result). Retried with backoff, since a restart may help.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<picoclaw_http::HttpError> for McpError {
    fn from(e: picoclaw_http::HttpError) -> Self {
        McpError::Http(e.to_string())
    }
}
