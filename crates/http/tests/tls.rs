#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real TLS handshakes against the test kit's HTTPS server on 127.0.0.1,
//! with a CA made for each test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use picoclaw_http::{CaFile, Client, HttpError, HttpOptions, TlsError, Trust};
use picoclaw_testkit::http::{Reply, Scheme, Server};
use picoclaw_testkit::tls::{self_signed_server, TestCa, LOOPBACK_NAMES};

fn serve(tls: Arc<picoclaw_http::rustls::ServerConfig>) -> Server {
    Server::start_with(Scheme::Https(tls), |_| {
        Reply::json(200, &serde_json::json!({"ok": true}))
    })
}

fn ca_file(ca: &TestCa, name: &str) -> CaFile {
    let path = temp(name);
    ca.write_pem(&path);
    CaFile::load(&path).unwrap()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("picoclaw-http-{}-{name}.pem", std::process::id()))
}

fn client(trust: Trust) -> Client {
    Client::new(&HttpOptions {
        trust: Some(Arc::new(trust)),
        proxy: None,
        ..HttpOptions::default()
    })
    .unwrap()
}

fn tls_error(result: Result<picoclaw_http::Response, HttpError>) -> TlsError {
    match result {
        Err(HttpError::Tls(e)) => e,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn a_server_signed_by_the_ca_file_is_trusted_on_top_of_the_builtin_roots() {
    let ca = TestCa::new();
    let server = serve(ca.loopback_server());
    let trust = Trust::new(Some(ca_file(&ca, "trusted")));
    assert_eq!(
        trust.describe(),
        format!(
            "built-in webpki roots: {} certificates, plus ca_file: {}, 1 certificate",
            Trust::builtin_roots(),
            temp("trusted").display()
        )
    );
    let resp = client(trust)
        .get(&format!("{}/x", server.url()), None)
        .unwrap();
    assert_eq!((resp.status, resp.body), (200, br#"{"ok":true}"#.to_vec()));
    assert!(server.handshake_failures().is_empty());
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_in_words() {
    let ca = TestCa::new();
    let server = serve(ca.loopback_server());
    let err = tls_error(client(Trust::builtin()).get(&server.url(), None));
    assert_eq!(err, TlsError::UnknownIssuer);
    assert_eq!(
        HttpError::Tls(err).to_string(),
        "certificate not trusted: unknown issuer — set [http] ca_file to a PEM file with the CA that signed it"
    );
    // The server saw the handshake fail too: the client refused, it did
    // not just time out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.handshake_failures().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(server.handshake_failures().len(), 1);
    assert!(
        server.handshake_failures()[0].contains("UnknownCA"),
        "{:?}",
        server.handshake_failures()
    );
}

#[test]
fn a_self_signed_certificate_is_an_unknown_issuer_even_with_another_ca_file() {
    let server = serve(self_signed_server(LOOPBACK_NAMES));
    let trust = Trust::new(Some(ca_file(&TestCa::new(), "other")));
    let err = tls_error(client(trust).get(&server.url(), None));
    assert_eq!(err, TlsError::UnknownIssuer);
}

#[test]
fn a_certificate_for_another_host_is_a_hostname_mismatch() {
    let ca = TestCa::new();
    let server = serve(ca.server(&["api.other.example"]));
    let err =
        tls_error(client(Trust::new(Some(ca_file(&ca, "mismatch")))).get(&server.url(), None));
    assert_eq!(
        err.to_string(),
        "certificate hostname mismatch: the URL names 127.0.0.1, the certificate is for api.other.example"
    );
}

#[test]
fn an_expired_certificate_is_named_expired_with_its_date() {
    let ca = TestCa::new();
    let server = serve(ca.expired_server(LOOPBACK_NAMES));
    let err = tls_error(client(Trust::new(Some(ca_file(&ca, "expired")))).get(&server.url(), None));
    assert_eq!(
        err.to_string(),
        "certificate expired on 2021-01-01T00:00:00.000Z"
    );
}

#[test]
fn https_to_a_plain_http_server_says_the_server_does_not_speak_tls() {
    // What an HTTP server does with a ClientHello: a 400 in plain text.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    });
    match tls_error(client(Trust::builtin()).get(&format!("https://{addr}/"), None)) {
        TlsError::Handshake(why) => {
            assert!(why.contains("is the URL meant to be http://"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_hanging_up_on_the_hello_is_a_handshake_failure_not_a_reset() {
    // The fake's plain server cannot parse a ClientHello and closes.
    let server = Server::start(|_| Reply::json(200, &serde_json::json!({})));
    let url = server.url().replace("http://", "https://");
    assert_eq!(
        tls_error(client(Trust::builtin()).get(&url, None)),
        TlsError::Handshake(String::from(
            "the server closed the connection during the TLS handshake"
        ))
    );
}

#[test]
fn the_installed_trust_is_used_by_new_clients_and_by_tls_client_config() {
    let ca = TestCa::new();
    let server = serve(ca.loopback_server());
    picoclaw_http::install(Trust::new(Some(ca_file(&ca, "installed"))));
    assert!(Arc::ptr_eq(
        &picoclaw_http::tls_client_config(),
        &picoclaw_http::trust().client_config()
    ));

    let http = Client::new(&HttpOptions {
        proxy: None,
        ..HttpOptions::default()
    })
    .unwrap();
    assert_eq!(http.get(&server.url(), None).unwrap().status, 200);

    // A TLS user outside ureq (as a WebSocket client would be) gets the
    // same roots from the shared config.
    let name = picoclaw_http::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn =
        picoclaw_http::rustls::ClientConnection::new(picoclaw_http::tls_client_config(), name)
            .unwrap();
    let sock = TcpStream::connect(server.addr()).unwrap();
    let mut tls = picoclaw_http::rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}
