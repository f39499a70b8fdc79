//! The web tools through the binary: the model calls `web_fetch` on a
//! local page the config allows and its text reaches the model; without
//! the allowance the page's server never sees a request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use picoclaw_testkit::http::{Reply, Server};

use crate::util::*;

const PAGE: &str = "<html><head><title>Board notes</title><script>track()</script></head>\
<body><nav><a href=\"/\">Home</a></nav><h2>Memory</h2><p>The LicheeRV Nano has <b>256&nbsp;MB</b>.</p></body></html>";

fn page_server() -> (Server, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = Server::start(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Reply::raw(200, "text/html; charset=utf-8", PAGE)
    });
    (server, hits)
}

#[test]
fn the_model_fetches_an_allowed_local_page_and_reads_its_text() {
    let (page, hits) = page_server();
    let mut p = Picoclaw::with_config(
        "web-fetch",
        "[tools.web]\nallow_private = [\"127.0.0.1\"]\n",
    );
    p.start();
    let url = format!("{}/notes", page.url());
    p.say(&format!(r#"read [[call web_fetch {{"url":"{url}"}}]]"#));
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(
        results[0],
        format!(
            "{url} (HTTP 200, text/html, {} bytes)\nTitle: Board notes\n\n## Memory\n\nThe LicheeRV Nano has 256 MB.",
            PAGE.len()
        )
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The first request advertised it.
    let first = &p.llm.requests()[0].body;
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(names.contains(&"web_fetch"), "{names:?}");
    assert!(
        !names.contains(&"web_search"),
        "no provider configured: {names:?}"
    );
}

#[test]
fn by_default_a_local_service_is_refused_and_never_contacted() {
    let (page, hits) = page_server();
    let mut p = Picoclaw::new("web-refused");
    p.start();
    let port = page.addr().port();
    p.say(&format!(
        r#"[[call web_fetch {{"url":"{}/"}}]] [[call web_fetch {{"url":"http://localhost:{port}/"}}]] [[call web_fetch {{"url":"http://2130706433:{port}/"}}]]"#,
        page.url()
    ));
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 3, "{results:?}");
    for result in &results {
        assert!(
            result.starts_with("refused ") && result.contains("loopback"),
            "{result}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
