//! Telegram files against the fake: getFile then the download streamed to
//! a writer, capped; sendDocument / sendPhoto as multipart uploads with
//! the Bot API's size limits.

// Helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use picoclaw_channels::telegram::{MAX_PHOTO_BYTES, MAX_UPLOAD_BYTES};
use picoclaw_core::{ChannelError, OutFile, Sink};
use picoclaw_testkit::fake_telegram::{FakeTelegram, Fault};

use super::{connect, ALLOWED, TOKEN};

/// Bytes that differ at every offset, so a reordered or cut copy shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A file under a fresh temporary directory, `len` bytes long (sparse past
/// `content`).
fn temp_file(tag: &str, content: &[u8], len: u64) -> (std::path::PathBuf, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("picoclaw-tgfiles-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(content).unwrap();
    f.set_len(len).unwrap();
    (dir, std::fs::File::open(&path).unwrap())
}

fn out(name: &str, photo: bool) -> OutFile {
    OutFile {
        path: name.into(),
        name: name.into(),
        photo,
    }
}

#[test]
fn a_received_file_is_fetched_with_get_file_and_streamed_whole_to_the_writer() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let bytes = pattern(300_000);
    fake.put_file("doc-1", bytes.clone());
    let mut got = Vec::new();
    let n = tg.fetch_file("doc-1", 1 << 20, &mut got).unwrap();
    assert_eq!(n, bytes.len() as u64);
    assert_eq!(got, bytes);
    assert_eq!(fake.downloads(), 1);
}

#[test]
fn a_file_over_the_cap_is_refused_as_too_big_without_downloading_it() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.put_file("big", pattern(5_000));
    let mut got = Vec::new();
    match tg.fetch_file("big", 4_999, &mut got) {
        Err(ChannelError::Rejected { status: 413, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(got.is_empty());
    assert_eq!(fake.downloads(), 0, "getFile's file_size was enough");
}

#[test]
fn an_unknown_file_is_rejected_and_a_failing_download_is_retryable_without_the_token() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let mut got = Vec::new();
    match tg.fetch_file("nope", 1 << 20, &mut got) {
        Err(ChannelError::Rejected {
            status: 400,
            message,
        }) => {
            assert!(message.contains("invalid file_id"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    fake.put_file("doc", pattern(10));
    fake.fail_next(
        "file",
        Fault::Status {
            code: 502,
            description: String::from("Bad Gateway"),
            retry_after: None,
        },
    );
    match tg.fetch_file("doc", 1 << 20, &mut got) {
        Err(e @ ChannelError::Retry { .. }) => {
            assert!(!e.to_string().contains(TOKEN), "{e}");
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next("file", Fault::Hangup);
    match tg.fetch_file("doc", 1 << 20, &mut got) {
        Err(e @ ChannelError::Retry { .. }) => {
            assert!(!e.to_string().contains("TEST-fake-token"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(got.is_empty());
    // And it works once the server recovers.
    assert_eq!(tg.fetch_file("doc", 1 << 20, &mut got).unwrap(), 10);
}

#[test]
fn documents_and_photos_are_uploaded_as_multipart_with_their_names_and_bytes() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_text(ALLOWED, ALLOWED, "bob", "send me things");
    let chat = ALLOWED.to_string();
    let doc = pattern(70_000);
    let (dir, f) = temp_file("doc", &doc, doc.len() as u64);
    tg.send_file(&chat, &out("report.pdf", false), f, doc.len() as u64)
        .unwrap();
    let pic = pattern(2_000);
    let (dir2, f) = temp_file("pic", &pic, pic.len() as u64);
    tg.send_file(&chat, &out("chart.png", true), f, pic.len() as u64)
        .unwrap();
    let sent = fake.sent_files();
    let seen: Vec<_> = sent
        .iter()
        .map(|s| {
            (
                s.chat_id,
                s.method.as_str(),
                s.filename.as_deref(),
                s.content_type.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                ALLOWED,
                "sendDocument",
                Some("report.pdf"),
                Some("application/pdf")
            ),
            (ALLOWED, "sendPhoto", Some("chart.png"), Some("image/png")),
        ]
    );
    assert_eq!(sent[0].bytes, doc);
    assert_eq!(sent[1].bytes, pic);
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn a_picture_over_the_photo_limit_goes_as_a_document_and_over_50_mb_nothing_is_sent() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_text(ALLOWED, ALLOWED, "bob", "big ones");
    let chat = ALLOWED.to_string();
    let (dir, f) = temp_file("bigpic", b"\x89PNG\r\n\x1a\n", MAX_PHOTO_BYTES + 1);
    tg.send_file(&chat, &out("huge.png", true), f, MAX_PHOTO_BYTES + 1)
        .unwrap();
    let sent = fake.sent_files();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].bytes.len() as u64),
        ("sendDocument", MAX_PHOTO_BYTES + 1)
    );
    let (dir2, f) = temp_file("toobig", b"x", MAX_UPLOAD_BYTES + 1);
    match tg.send_file(&chat, &out("huge.bin", false), f, MAX_UPLOAD_BYTES + 1) {
        Err(ChannelError::Rejected {
            status: 413,
            message,
        }) => {
            assert!(message.contains("over the"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.sent_files().len(), 1, "the oversize file never left");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}
