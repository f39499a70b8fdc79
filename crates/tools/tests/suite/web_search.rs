//! `web_search` against fake Brave Search API and SearXNG servers on
//! 127.0.0.1 that answer with the documented JSON shapes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_core::Tool;
use picoclaw_testkit::http::{Reply, Request, Server};
use picoclaw_tools::web::{SearchOptions, SearchProvider, WebSearch};
use serde_json::json;

use super::web_util::ctx;

fn search(provider: SearchProvider, base: &str, key: Option<&str>) -> WebSearch {
    let opts = SearchOptions {
        provider,
        base_url: base.to_string(),
        api_key: key.map(String::from),
        max_results: 2,
    };
    WebSearch::new(&opts, Duration::from_secs(10), None).unwrap()
}

fn recording(
    reply: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> (Server, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = Server::start(move |r| {
        s.lock().unwrap().push(r.clone());
        reply(r)
    });
    (server, seen)
}

#[test]
fn brave_results_come_back_as_title_url_and_snippet() {
    let (server, seen) = recording(|r| {
        if r.header("x-subscription-token") != Some("brave-key") {
            return Reply::json(
                401,
                &json!({"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID", "detail": "The provided subscription token is invalid.", "status": 401}}),
            );
        }
        Reply::json(
            200,
            &json!({
                "type": "search",
                "query": {"original": "rust ssrf"},
                "web": {"type": "search", "results": [
                    {"type": "search_result", "title": "SSRF &amp; Rust", "url": "https://a.example/ssrf", "description": "How to <strong>guard</strong> fetches."},
                    {"type": "search_result", "title": "Second", "url": "https://b.example/", "description": ""},
                    {"type": "search_result", "title": "Third", "url": "https://c.example/", "description": "cut by max_results"}
                ]}
            }),
        )
    });
    let tool = search(
        SearchProvider::Brave,
        &format!("{}/res/v1", server.url()),
        Some("brave-key"),
    );
    let out = tool.call(&ctx(), &json!({"query": "rust ssrf"}));
    assert!(!out.is_error, "{}", out.content);
    assert_eq!(
        out.content,
        "1. SSRF & Rust\nhttps://a.example/ssrf\nHow to guard fetches.\n\n2. Second\nhttps://b.example/"
    );
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.path, "/res/v1/web/search");
    assert_eq!(first.query, "q=rust+ssrf&count=2");
    assert_eq!(first.header("accept"), Some("application/json"));

    let bad = search(
        SearchProvider::Brave,
        &format!("{}/res/v1", server.url()),
        Some("wrong"),
    );
    let out = bad.call(&ctx(), &json!({"query": "x"}));
    assert!(out.is_error);
    assert!(
        out.content.starts_with("brave search failed: HTTP 401: "),
        "{}",
        out.content
    );
    assert!(
        out.content.contains("subscription token is invalid"),
        "{}",
        out.content
    );
}

#[test]
fn searxng_json_results_come_back_the_same_way() {
    let (server, seen) = recording(|r| {
        if r.query.contains("nothing") {
            return Reply::json(
                200,
                &json!({"query": "nothing", "number_of_results": 0, "results": []}),
            );
        }
        Reply::json(
            200,
            &json!({
                "query": "tiny boards",
                "number_of_results": 1,
                "results": [{"url": "https://sbc.example/", "title": "Tiny boards", "content": "RISC-V <b>and</b> ARM", "engine": "duckduckgo", "score": 1.0}],
                "answers": [], "suggestions": [], "infoboxes": []
            }),
        )
    });
    let tool = search(SearchProvider::Searxng, &server.url(), None);
    let out = tool.call(&ctx(), &json!({"query": "tiny boards"}));
    assert_eq!(
        out.content,
        "1. Tiny boards\nhttps://sbc.example/\nRISC-V and ARM"
    );
    assert_eq!(seen.lock().unwrap()[0].path, "/search");
    assert_eq!(seen.lock().unwrap()[0].query, "q=tiny+boards&format=json");
    let none = tool.call(&ctx(), &json!({"query": "nothing"}));
    assert_eq!(none.content, "no results for nothing");
    assert!(!none.is_error);
    assert!(tool.call(&ctx(), &json!({"query": " "})).is_error);
}

#[test]
fn a_search_server_that_answers_html_is_an_error_not_a_result() {
    // SearXNG answers 403 when the json format is not enabled.
    let (server, _) = recording(|_| Reply::raw(403, "text/html", "<h1>403 Forbidden</h1>"));
    let tool = search(SearchProvider::Searxng, &server.url(), None);
    let out = tool.call(&ctx(), &json!({"query": "x"}));
    assert!(out.is_error);
    assert!(
        out.content.starts_with("searxng search failed: HTTP 403"),
        "{}",
        out.content
    );
    let (server, _) = recording(|_| Reply::raw(200, "text/html", "<html>not json</html>"));
    let tool = search(SearchProvider::Searxng, &server.url(), None);
    let out = tool.call(&ctx(), &json!({"query": "x"}));
    assert!(
        out.is_error
            && out
                .content
                .starts_with("searxng search: answer is not JSON"),
        "{}",
        out.content
    );
}
