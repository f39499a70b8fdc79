//! "Nothing answers there": a provider's address that refuses connections
//! or does not resolve, told apart from other transport failures so the
//! chain can say so once and the user learns what to start or set.

use picoclaw_core::ProviderError;
use picoclaw_http::HttpError;

/// Connection failures that mean no server is there (as opposed to one
/// that broke off mid-answer).
fn is_unreachable(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "connection refused",
        "network is unreachable",
        "no route to host",
        "host not found",
        "failed to lookup address",
        "name or service not known",
        "nodename nor servname",
        "temporary failure in name resolution",
        "no address associated",
        "dns",
    ]
    .iter()
    .any(|p| r.contains(p))
}

/// `e` for a POST to `url`, as a provider error.
pub(crate) fn classify(e: HttpError, url: &str) -> ProviderError {
    match e {
        HttpError::Connection(reason) if is_unreachable(&reason) => {
            let base = url
                .strip_suffix("/chat/completions")
                .or_else(|| url.strip_suffix("/v1/messages"))
                .unwrap_or(url);
            ProviderError::Unreachable {
                hint: hint(base, &reason),
                url: base.to_string(),
                reason: short(&reason),
            }
        }
        other => crate::status::from_http(other),
    }
}

/// "connection refused" rather than "connection failed: Connection
/// refused (os error 111)".
fn short(reason: &str) -> String {
    let r = reason.trim_start_matches("connection failed: ");
    let r = r.split(" (os error").next().unwrap_or(r);
    r.to_ascii_lowercase()
}

/// What to start or set, judged by the address: the usual local servers
/// by their default ports, else the network.
fn hint(base: &str, reason: &str) -> String {
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .unwrap_or(base);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.strip_prefix('[') {
        // [v6]:port
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (v6, None),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()),
            None => (authority, None),
        },
    };
    let port: Option<u16> = port.or(match base.starts_with("https://") {
        true => Some(443),
        false => Some(80),
    });
    let local = matches!(host, "localhost" | "::1") || host.starts_with("127.");
    let set = "or set base_url of this [[providers]] entry in the config";
    if !local {
        let r = reason.to_ascii_lowercase();
        return if r.contains("refused") {
            format!("the server refuses connections: check the address, {set}")
        } else {
            format!("check the host name, this machine's network and DNS (and HTTPS_PROXY), {set}")
        };
    }
    let server = match port {
        Some(11434) => "start Ollama (`ollama serve`, then `ollama pull` the model)",
        Some(8080) => "start llama.cpp's server (`llama-server -m MODEL.gguf --port 8080`)",
        Some(1234) => "start LM Studio's local server",
        Some(8000) => "start vLLM (`vllm serve MODEL`)",
        _ => "start the model server that should listen there",
    };
    format!("{server}, {set}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(e: HttpError, url: &str) -> (String, String, String) {
        match classify(e, url) {
            ProviderError::Unreachable { url, reason, hint } => (url, reason, hint),
            other => panic!("not unreachable: {other:?}"),
        }
    }

    #[test]
    fn a_refused_local_ollama_says_to_start_it_and_names_the_base_url() {
        let (url, reason, hint) = unreachable(
            HttpError::Connection("Connection refused (os error 111)".into()),
            "http://127.0.0.1:11434/v1/chat/completions",
        );
        assert_eq!(url, "http://127.0.0.1:11434/v1");
        assert_eq!(reason, "connection refused");
        assert_eq!(
            hint,
            "start Ollama (`ollama serve`, then `ollama pull` the model), or set base_url of this [[providers]] entry in the config"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_points_at_the_network() {
        let (url, _, hint) = unreachable(
            HttpError::Connection("host not found".into()),
            "https://api.example.invalid/v1/messages",
        );
        assert_eq!(url, "https://api.example.invalid");
        assert!(hint.starts_with("check the host name"), "{hint}");
    }

    #[test]
    fn other_transport_failures_stay_transport_errors() {
        assert!(matches!(
            classify(
                HttpError::Connection("connection reset by peer".into()),
                "http://x/v1"
            ),
            ProviderError::Transport(_)
        ));
        assert!(matches!(
            classify(HttpError::Timeout, "http://x/v1"),
            ProviderError::Transport(_)
        ));
    }
}
