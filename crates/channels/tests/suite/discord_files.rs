//! Discord files against the fake: attachments downloaded from their URL
//! to a writer, capped; files sent as a message with one attachment
//! (`multipart/form-data`, payload_json + files[0]) within the 10 MiB limit.

// Helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use picoclaw_channels::discord::MAX_UPLOAD_BYTES;
use picoclaw_core::{ChannelError, InboundKind, OutFile, Poller, Sink};
use picoclaw_testkit::fake_discord::FakeDiscord;

use super::{discord, poll_n, ALICE, DISCORD_TOKEN, WAIT};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 37 % 253) as u8).collect()
}

fn temp_file(tag: &str, content: &[u8], len: u64) -> (std::path::PathBuf, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("picoclaw-dcfiles-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(content).unwrap();
    f.set_len(len).unwrap();
    (dir, std::fs::File::open(&path).unwrap())
}

#[test]
fn an_image_attachment_arrives_as_a_photo_whose_url_downloads_the_bytes() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = discord(&fake);
    assert!(d.poll(None).unwrap().items.is_empty());
    assert!(fake.wait_for_ready(1, WAIT));
    let png = pattern(40_000);
    let att = fake.attachment("cat.png", "image/png", png.clone());
    fake.dm_with(ALICE, "what breed?", vec![att]);
    let (items, _) = poll_n(&d, None, 1);
    let InboundKind::Media { text, files } = &items[0].kind else {
        panic!("{:?}", items[0].kind);
    };
    assert_eq!(text, "what breed?");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].kind, picoclaw_core::MediaKind::Photo);
    assert_eq!(files[0].sizes[0].bytes, Some(40_000));
    let url = files[0].sizes[0].id.clone();
    let mut got = Vec::new();
    assert_eq!(d.fetch_file(&url, 1 << 20, &mut got).unwrap(), 40_000);
    assert_eq!(got, png);
    let mut cut = Vec::new();
    match d.fetch_file(&url, 39_999, &mut cut) {
        Err(ChannelError::Rejected { status: 413, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(cut.is_empty());
    match d.fetch_file("file:///etc/passwd", 1 << 20, &mut cut) {
        Err(ChannelError::Rejected { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.downloads(),
        2,
        "the refused-by-length one was asked, the file: one not"
    );
}

#[test]
fn a_file_goes_out_as_one_attachment_and_one_over_10_mib_is_refused_before_upload() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = discord(&fake);
    assert!(d.poll(None).unwrap().items.is_empty());
    assert!(fake.wait_for_ready(1, WAIT));
    fake.dm(ALICE, "send it");
    let (items, _) = poll_n(&d, None, 1);
    let chat = items[0].chat_id.clone();
    let bytes = pattern(123_456);
    let (dir, f) = temp_file("up", &bytes, bytes.len() as u64);
    let file = OutFile {
        path: String::from("out/report.txt"),
        name: String::from("report.txt"),
        photo: false,
    };
    d.send_file(&chat, &file, f, bytes.len() as u64).unwrap();
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attachments, [(String::from("report.txt"), bytes)]);
    assert_eq!(sent[0].allowed_mentions["parse"], serde_json::json!([]));

    let (dir2, f) = temp_file("toobig", b"x", MAX_UPLOAD_BYTES + 1);
    match d.send_file(&chat, &file, f, MAX_UPLOAD_BYTES + 1) {
        Err(ChannelError::Rejected { status: 413, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.sent().len(), 1, "nothing more was posted");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}
