//! `web_fetch` against real listeners on 127.0.0.x: the SSRF guard refuses
//! every private class however it is spelled, resolved or redirected to,
//! and those listeners record no connection; allowed hosts work end to
//! end; size, type, redirect and time limits hold.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_testkit::http::{Reply, Request, Server};
use picoclaw_tools::web::{WebFetch, WebOptions};

use super::web_util::*;

fn refused(tool: &WebFetch, url: &str, why: &str) {
    let out = fetch_with(tool, url);
    assert!(out.is_error, "{url} was fetched: {}", out.content);
    assert!(
        out.content.starts_with("refused ") && out.content.contains(why),
        "{url}: expected a refusal mentioning {why:?}, got {}",
        out.content
    );
    assert!(!out.content.contains("SECRET"), "{url}: {}", out.content);
}

/// A page server on 127.0.0.1 that keeps every request.
fn page_server(
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

/// `web_fetch` whose every request would go to a fake proxy on 127.0.0.1:
/// addresses outside the loopback range are only ever tried through it,
/// so a guard bug shows up as a recorded CONNECT, never as a packet
/// leaving the machine. The guard checks proxied targets the same way.
fn behind_net(dns: &FakeDns) -> (FakeProxy, WebFetch) {
    let proxy = FakeProxy::start("SECRET");
    let opts = WebOptions {
        proxy: Some(proxy.url.clone()),
        ..WebOptions::default()
    };
    let tool = fetcher_opts(opts, dns);
    (proxy, tool)
}

#[test]
fn literal_loopback_addresses_are_refused_before_connecting() {
    let trap2 = Trap::on("127.0.0.2").unwrap();
    let trap1 = Trap::on("127.0.0.1").unwrap();
    let tool = fetcher(&[], &FakeDns::new());
    refused(
        &tool,
        &format!("http://127.0.0.2:{}/", trap2.port()),
        "loopback",
    );
    refused(
        &tool,
        &format!("http://127.0.0.1:{}/", trap1.port()),
        "loopback",
    );
    refused(
        &tool,
        &format!("https://127.0.0.1:{}/", trap1.port()),
        "loopback",
    );
    // 0.0.0.0 reaches local listeners on Linux.
    refused(
        &tool,
        &format!("http://0.0.0.0:{}/", trap1.port()),
        "unspecified",
    );
    refused(
        &tool,
        &format!("http://[::]:{}/", trap1.port()),
        "unspecified",
    );
    if let Some(trap6) = Trap::on("::1") {
        refused(
            &tool,
            &format!("http://[::1]:{}/", trap6.port()),
            "loopback",
        );
        assert_eq!(trap6.hits(), 0);
    }
    assert_eq!(trap2.hits(), 0);
    assert_eq!(trap1.hits(), 0);
}

#[test]
fn literal_private_link_local_cgnat_multicast_and_metadata_addresses_are_refused() {
    let (net, tool) = behind_net(&FakeDns::new());
    for (url, why) in [
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://100.100.100.200/", "metadata"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "broadcast"),
        ("http://240.1.2.3/", "reserved"),
        ("http://192.0.2.1/", "documentation"),
        ("http://198.18.0.1/", "benchmarking"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://[fc00::1]/", "unique-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[ff02::1]/", "multicast"),
        ("http://[2001:db8::1]/", "documentation"),
    ] {
        refused(&tool, url, why);
    }
    assert!(
        net.connects.lock().unwrap().is_empty(),
        "{:?}",
        net.connects
    );
}

#[test]
fn decimal_octal_and_hex_ipv4_spellings_are_recognised_and_refused() {
    let trap = Trap::on("127.0.0.2").unwrap();
    let trap1 = Trap::on("127.0.0.1").unwrap();
    let tool = fetcher(&[], &FakeDns::new());
    let p = trap.port();
    let q = trap1.port();
    for url in [
        format!("http://2130706434:{p}/"),
        format!("http://0177.0.0.2:{p}/"),
        format!("http://0x7f.2:{p}/"),
        format!("http://0x7F000002:{p}/"),
        format!("http://127.0.2:{p}/"),
        format!("http://0177.0.0.02:{p}/"),
        format!("http://127.0.0.2.:{p}/"),
        format!("http://2130706433:{q}/"),
        format!("http://0x7f.1:{q}/"),
        format!("http://0177.0.0.1:{q}/"),
        format!("http://127.1:{q}/"),
    ] {
        refused(&tool, &url, "loopback");
    }
    // A malformed number is not sent to DNS.
    refused(&tool, "http://0x7f.0x100.0.1/", "not a valid IPv4 address");
    assert_eq!(trap.hits(), 0);
    assert_eq!(trap1.hits(), 0);
    // 3232235777 is 192.168.1.1, 0xa9.0xfe.0xa9.0xfe the metadata address.
    let (net, tool) = behind_net(&FakeDns::new());
    refused(&tool, "http://3232235777/", "private");
    refused(&tool, "http://0xa9.0xfe.0xa9.0xfe/", "metadata");
    refused(&tool, "http://012.0.0.1/", "private");
    assert!(
        net.connects.lock().unwrap().is_empty(),
        "{:?}",
        net.connects
    );
}

#[test]
fn ipv6_forms_embedding_a_refused_ipv4_address_are_refused() {
    // IPv4-mapped addresses reach 127.0.0.2 through the kernel's dual
    // stack: a trap there would see them.
    let trap = Trap::on("127.0.0.2").unwrap();
    let tool = fetcher(&[], &FakeDns::new());
    let p = trap.port();
    refused(
        &tool,
        &format!("http://[::ffff:127.0.0.2]:{p}/"),
        "embedding",
    );
    refused(&tool, &format!("http://[::ffff:7f00:2]:{p}/"), "embedding");
    assert_eq!(trap.hits(), 0);
    // The other forms reach an IPv4 address through a translator or
    // tunnel somewhere on the network.
    let (net, tool) = behind_net(&FakeDns::new());
    for (url, why) in [
        ("http://[::127.0.0.2]/", "embedding"),
        ("http://[::ffff:0:7f00:2]/", "embedding"),
        ("http://[64:ff9b::7f00:2]/", "NAT64"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64"),
        ("http://[64:ff9b:1::a00:1]/", "NAT64"),
        ("http://[2002:7f00:2::1]/", "6to4"),
        ("http://[2002:a9fe:a9fe::1]/", "6to4"),
        ("http://[::ffff:169.254.169.254]/", "embedding"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    ] {
        refused(&tool, url, why);
    }
    assert!(
        net.connects.lock().unwrap().is_empty(),
        "{:?}",
        net.connects
    );
}

#[test]
fn dns_names_resolving_to_refused_addresses_are_refused_and_never_connected() {
    let trap = Trap::on("127.0.0.2").unwrap();
    let p = trap.port();
    let dns = FakeDns::new()
        .with("evil.test", &["127.0.0.2"])
        .with("mixed.test", &["93.184.216.34", "127.0.0.2"])
        .with("meta.test", &["169.254.169.254"])
        .with("mapped.test", &["::ffff:127.0.0.2"])
        .with("lan.test", &["192.168.0.10"]);
    let tool = fetcher(&[], &dns);
    refused(
        &tool,
        &format!("http://evil.test:{p}/"),
        "evil.test resolves to 127.0.0.2, a loopback address",
    );
    refused(&tool, &format!("http://EVIL.test.:{p}/"), "loopback");
    refused(&tool, &format!("http://mixed.test:{p}/"), "loopback");
    refused(&tool, &format!("http://mapped.test:{p}/"), "embedding");
    // user@host: the host is what counts, and credentials are refused.
    let out = fetch_with(&tool, &format!("http://93.184.216.34@evil.test:{p}/"));
    assert!(
        out.is_error && out.content.contains("credentials"),
        "{}",
        out.content
    );
    assert_eq!(trap.hits(), 0);
    let (net, tool) = behind_net(&dns);
    refused(
        &tool,
        "https://lan.test/",
        "lan.test resolves to 192.168.0.10, a private address",
    );
    refused(&tool, "http://meta.test/latest/meta-data/", "metadata");
    assert!(
        net.connects.lock().unwrap().is_empty(),
        "{:?}",
        net.connects
    );
}

#[test]
fn localhost_is_refused_through_the_system_resolver() {
    let trap = Trap::on("127.0.0.1").unwrap();
    let tool = WebFetch::new(&WebOptions::default()).unwrap();
    refused(
        &tool,
        &format!("http://localhost:{}/", trap.port()),
        "localhost resolves to",
    );
    refused(
        &tool,
        &format!("http://LocalHost.:{}/", trap.port()),
        "loopback",
    );
    assert_eq!(trap.hits(), 0);
}

#[test]
fn an_allowed_private_host_is_fetched_and_its_html_becomes_text() {
    const PAGE: &str = "<html><head><title>Local page</title><script>evil()</script></head><body><h1>Hi</h1><p>Served from <a href=\"/more\">here</a>.</p></body></html>";
    let (server, seen) = page_server(|_| Reply::raw(200, "text/html; charset=utf-8", PAGE));
    let tool = fetcher(&["127.0.0.1"], &FakeDns::new());
    let url = format!("{}/page", server.url());
    let out = fetch_with(&tool, &url);
    assert!(!out.is_error, "{}", out.content);
    let size = PAGE.len();
    assert_eq!(
        out.content,
        format!(
            "{url} (HTTP 200, text/html, {size} bytes)\nTitle: Local page\n\n# Hi\n\nServed from [here]({}/more).",
            server.url()
        )
    );
    let reqs = seen.lock().unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs[0].header("accept").unwrap().starts_with("text/html"));
}

#[test]
fn an_allowed_name_connects_to_its_one_vetted_answer_and_keeps_the_name_in_host() {
    let trap = Trap::on("127.0.0.2").unwrap();
    let (server, seen) = page_server(|_| Reply::raw(200, "text/plain", "hello by name"));
    let port = server.addr().port();
    // A rebinding DNS: the first answer is the allowed 127.0.0.1, every
    // later one the refused 127.0.0.2. Only one lookup may happen.
    let dns = FakeDns::new()
        .with("intranet.test", &["127.0.0.1"])
        .then("intranet.test", &["127.0.0.2"]);
    let tool = fetcher(&["intranet.test"], &dns);
    let out = fetch_with(&tool, &format!("http://intranet.test:{port}/x"));
    assert!(!out.is_error, "{}", out.content);
    assert!(
        out.content.ends_with("\n\nhello by name"),
        "{}",
        out.content
    );
    assert_eq!(dns.lookups_of("intranet.test"), 1);
    assert_eq!(
        seen.lock().unwrap()[0].header("host"),
        Some(format!("intranet.test:{port}").as_str())
    );
    assert_eq!(trap.hits(), 0);
}

#[test]
fn a_redirect_to_a_refused_address_is_refused_and_its_target_never_contacted() {
    let trap = Trap::on("127.0.0.2").unwrap();
    let p = trap.port();
    let targets = [
        format!("http://127.0.0.2:{p}/"),
        format!("http://evil.test:{p}/"),
        format!("http://[::ffff:127.0.0.2]:{p}/"),
        format!("http://2130706434:{p}/"),
        format!("http://0x7f.2:{p}/"),
    ];
    let list = targets.clone();
    let (server, seen) = page_server(move |r| {
        let i: usize = r.path.trim_start_matches("/r").parse().unwrap_or(0);
        Reply::raw(302, "text/plain", "").with_header("location", &list[i])
    });
    let dns = FakeDns::new().with("evil.test", &["127.0.0.2"]);
    let tool = fetcher(&["127.0.0.1"], &dns);
    for (i, target) in targets.iter().enumerate() {
        let out = fetch_with(&tool, &format!("{}/r{i}", server.url()));
        assert!(out.is_error, "{target}: {}", out.content);
        assert!(
            out.content.starts_with(&format!("refused {target}")),
            "{}",
            out.content
        );
    }
    assert_eq!(seen.lock().unwrap().len(), targets.len());
    assert_eq!(trap.hits(), 0);
}

#[test]
fn redirects_are_followed_five_times_and_no_more() {
    let (server, seen) = page_server(|r| {
        let n: usize = r.path.trim_start_matches("/hop/").parse().unwrap_or(0);
        let limit: usize = r.query.trim_start_matches("end=").parse().unwrap_or(0);
        if n >= limit {
            return Reply::raw(200, "text/plain", format!("arrived after {n}"));
        }
        // Relative and absolute Locations alternate.
        let next = if n % 2 == 0 {
            format!("{}?end={limit}", n + 1)
        } else {
            format!("/hop/{}?end={limit}", n + 1)
        };
        Reply::raw(301, "text/plain", "").with_header("location", &next)
    });
    let tool = fetcher(&["127.0.0.1"], &FakeDns::new());
    let five = fetch_with(&tool, &format!("{}/hop/0?end=5", server.url()));
    assert!(!five.is_error, "{}", five.content);
    assert!(
        five.content
            .starts_with(&format!("{}/hop/5?end=5 (HTTP 200", server.url())),
        "{}",
        five.content
    );
    assert!(five.content.ends_with("arrived after 5"));
    let six = fetch_with(&tool, &format!("{}/hop/0?end=6", server.url()));
    assert_eq!(six.content, "too many redirects (more than 5)");
    assert!(six.is_error);
    assert_eq!(seen.lock().unwrap().len(), 6 + 6);
    let (server2, _) = page_server(|_| {
        Reply::raw(302, "text/plain", "").with_header("location", "file:///etc/passwd")
    });
    let out = fetch_with(&tool, &server2.url());
    assert!(
        out.is_error && out.content.contains("not an http:// or https:// URL"),
        "{}",
        out.content
    );
}

#[test]
fn an_oversized_response_is_cut_at_max_bytes() {
    let (server, _) = page_server(|_| Reply::raw(200, "text/plain", "0123456789".repeat(50_000)));
    let opts = WebOptions {
        max_bytes: 1000,
        allow_private: vec!["127.0.0.1".into()],
        ..WebOptions::default()
    };
    let tool = fetcher_opts(opts, &FakeDns::new());
    let out = fetch_with(&tool, &server.url());
    assert!(!out.is_error, "{}", out.content);
    let (head, body) = out.content.split_once("\n\n").unwrap();
    assert!(
        head.ends_with("(HTTP 200, text/plain, 1000 bytes, cut at the size limit)"),
        "{head}"
    );
    assert_eq!(body, "0123456789".repeat(100));
}

#[test]
fn binary_content_is_refused_by_type_or_by_its_bytes() {
    let (server, _) = page_server(|r| match r.path.as_str() {
        "/png" => Reply::raw(200, "image/png", vec![0x89, b'P', b'N', b'G', 0, 0]),
        "/pdf" => Reply::raw(200, "application/pdf", "%PDF-1.7"),
        "/untyped" => Reply::Full {
            status: 200,
            headers: vec![],
            body: vec![1, 2, 0, 3],
        },
        _ => Reply::raw(200, "application/json", "{\"ok\":true}"),
    });
    let tool = fetcher(&["127.0.0.1"], &FakeDns::new());
    let png = fetch_with(&tool, &format!("{}/png", server.url()));
    assert_eq!(
        png.content,
        "refused: content-type image/png is not text; web_fetch reads HTML, text, JSON and XML"
    );
    assert!(png.is_error);
    assert!(fetch_with(&tool, &format!("{}/pdf", server.url()))
        .content
        .contains("application/pdf is not text"));
    let untyped = fetch_with(&tool, &format!("{}/untyped", server.url()));
    assert!(
        untyped.is_error
            && untyped
                .content
                .starts_with("refused: the response is binary"),
        "{}",
        untyped.content
    );
    let json = fetch_with(&tool, &format!("{}/j", server.url()));
    assert!(
        !json.is_error && json.content.ends_with("\n\n{\"ok\":true}"),
        "{}",
        json.content
    );
}

#[test]
fn a_slow_server_times_out_and_error_statuses_are_errors_with_their_text() {
    let (server, _) = page_server(|r| match r.path.as_str() {
        "/slow" => Reply::Delayed(
            Duration::from_secs(4),
            Box::new(Reply::raw(200, "text/plain", "late")),
        ),
        _ => Reply::raw(404, "text/html", "<p>No such page</p>"),
    });
    let opts = WebOptions {
        timeout: Duration::from_secs(1),
        allow_private: vec!["127.0.0.1".into()],
        ..WebOptions::default()
    };
    let tool = fetcher_opts(opts, &FakeDns::new());
    let url = format!("{}/slow", server.url());
    let slow = fetch_with(&tool, &url);
    assert_eq!(slow.content, format!("{url} timed out after 1 s"));
    assert!(slow.is_error);
    let missing = fetch_with(&tool, &format!("{}/gone", server.url()));
    assert!(missing.is_error);
    assert!(
        missing.content.contains("(HTTP 404, text/html")
            && missing.content.ends_with("No such page"),
        "{}",
        missing.content
    );
}

#[test]
fn through_a_proxy_refused_targets_are_stopped_before_sending_and_public_ones_go_through() {
    let proxy = FakeProxy::start("via proxy");
    let dns = FakeDns::new()
        .with("evil.test", &["127.0.0.2"])
        .with("public.test", &["93.184.216.34"]);
    let opts = WebOptions {
        proxy: Some(proxy.url.clone()),
        ..WebOptions::default()
    };
    let tool = fetcher_opts(opts, &dns);
    refused(&tool, "http://10.1.2.3/", "private");
    refused(&tool, "http://0x7f.1/", "loopback");
    refused(
        &tool,
        "http://evil.test/",
        "evil.test resolves to 127.0.0.2",
    );
    assert!(
        proxy.connects.lock().unwrap().is_empty(),
        "{:?}",
        proxy.connects
    );
    // The proxy's own address (loopback here) is the operator's and is not
    // vetted; the target's name goes to the proxy unresolved.
    let out = fetch_with(&tool, "http://public.test/page");
    assert!(!out.is_error, "{}", out.content);
    assert!(out.content.ends_with("\n\nvia proxy"), "{}", out.content);
    // A name local DNS cannot answer is left to the proxy (documented).
    let unknown = fetch_with(&tool, "http://unknown.test/");
    assert!(!unknown.is_error, "{}", unknown.content);
    assert_eq!(
        *proxy.connects.lock().unwrap(),
        vec![
            "CONNECT public.test:80 HTTP/1.1".to_string(),
            "CONNECT unknown.test:80 HTTP/1.1".to_string()
        ]
    );
}
