//! Received files reach the model in the right form; send_file goes out
//! through the outbox exactly once.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_agent::MediaOptions;
use picoclaw_core::{FileRef, MediaFile, MediaKind, ProviderError, Role, Transcriber};

use super::fakes::{Harness, Step};

/// A PNG signature and some bytes: enough for the type sniffing.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(&[7u8; 500]);
    b
}

fn photo(id: &str, bytes: u64) -> MediaFile {
    MediaFile {
        kind: MediaKind::Photo,
        name: None,
        mime: Some(String::from("image/jpeg")),
        duration_secs: None,
        sizes: vec![FileRef {
            id: id.into(),
            bytes: Some(bytes),
            width: Some(640),
            height: Some(480),
        }],
    }
}

fn file(kind: MediaKind, id: &str, name: Option<&str>, bytes: u64) -> MediaFile {
    MediaFile {
        kind,
        name: name.map(String::from),
        mime: None,
        duration_secs: (kind == MediaKind::Voice).then_some(3),
        sizes: vec![FileRef {
            id: id.into(),
            bytes: Some(bytes),
            width: None,
            height: None,
        }],
    }
}

fn user_message(h: &Harness) -> picoclaw_core::ChatMessage {
    h.llm.requests()[0]
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .cloned()
        .unwrap()
}

fn vision() -> MediaOptions {
    MediaOptions {
        vision: true,
        ..MediaOptions::default()
    }
}

#[tokio::test]
async fn a_photo_is_saved_in_the_inbox_and_attached_for_a_vision_model() {
    let h = Harness::new("media-photo");
    let event = h
        .chan
        .push_media("1", "what is this?", vec![(photo("p1", 508), png())]);
    let agent = h.agent(vec![]).with_media(vision());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let saved = format!("inbox/fake-{event}-photo.jpg");
    let user = user_message(&h);
    assert_eq!(
        user.content,
        format!("[photo saved at {saved} (508 B)]\nwhat is this?")
    );
    assert_eq!(user.images.len(), 1);
    assert_eq!(user.images[0].media_type, "image/png");
    assert_eq!(&*user.images[0].data, png().as_slice());
    assert_eq!(std::fs::read(h.opts.workspace.join(&saved)).unwrap(), png());
    // The picture is not stored: a later turn's history has only the text.
    let stored = h.db.blocking(|s| {
        let id = s.active_session("fake:1").unwrap();
        s.history(id, 0, 10).unwrap()
    });
    assert_eq!(stored[0].1.content, user.content);
    assert!(stored.iter().all(|(_, m)| m.images.is_empty()));
}

#[tokio::test]
async fn without_vision_the_model_is_told_where_the_photo_was_saved() {
    let h = Harness::new("media-novision");
    let event = h.chan.push_media("1", "", vec![(photo("p1", 508), png())]);
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let user = user_message(&h);
    assert_eq!(
        user.content,
        format!("[photo saved at inbox/fake-{event}-photo.jpg (508 B)]")
    );
    assert!(user.images.is_empty());
}

struct Words(Mutex<Vec<(u64, String)>>);

impl Transcriber for Words {
    fn transcribe(
        &self,
        mut audio: std::fs::File,
        len: u64,
        name: &str,
    ) -> Result<String, ProviderError> {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut audio, &mut s).unwrap();
        self.0.lock().unwrap().push((len, name.to_string()));
        Ok(s)
    }
}

#[tokio::test]
async fn a_voice_note_is_transcribed_into_the_turn_with_a_marker() {
    let h = Harness::new("media-voice");
    let words = Arc::new(Words(Mutex::new(Vec::new())));
    let speech = b"remind me to water the plants".to_vec();
    let event = h.chan.push_media(
        "1",
        "",
        vec![(
            file(MediaKind::Voice, "v1", None, speech.len() as u64),
            speech,
        )],
    );
    let agent = h.agent(vec![]).with_media(MediaOptions {
        transcriber: Some(words.clone()),
        ..MediaOptions::default()
    });
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let name = format!("fake-{event}-voice.ogg");
    assert_eq!(
        user_message(&h).content,
        format!("[voice note (3 s) saved at inbox/{name} (29 B); transcribed:]\nremind me to water the plants")
    );
    assert_eq!(*words.0.lock().unwrap(), [(29, name)]);
}

#[tokio::test]
async fn without_transcription_the_model_is_told_a_voice_note_was_saved() {
    let h = Harness::new("media-voice-plain");
    let event = h.chan.push_media(
        "1",
        "",
        vec![(file(MediaKind::Voice, "v1", None, 4), b"ogg!".to_vec())],
    );
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    assert_eq!(
        user_message(&h).content,
        format!("[voice note (3 s) saved at inbox/fake-{event}-voice.ogg (4 B); no transcription is set up, so its words are unknown]")
    );
}

#[tokio::test]
async fn a_document_named_to_escape_the_workspace_lands_in_the_inbox_under_a_safe_name() {
    let h = Harness::new("media-traversal");
    let event = h.chan.push_media(
        "1",
        "read it",
        vec![(
            file(MediaKind::Document, "d1", Some("../../../.bashrc"), 5),
            b"hello".to_vec(),
        )],
    );
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let rel = format!("inbox/fake-{event}-bashrc");
    assert_eq!(
        user_message(&h).content,
        format!("[document \"../../../.bashrc\" saved at {rel} (5 B); the file tools can read it]\nread it")
    );
    assert_eq!(
        std::fs::read(h.opts.workspace.join(&rel)).unwrap(),
        b"hello"
    );
    let ws_parent = h.opts.workspace.parent().unwrap();
    assert!(!ws_parent.join(".bashrc").exists());
    let inbox: Vec<String> = std::fs::read_dir(h.opts.workspace.join("inbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(inbox, [format!("fake-{event}-bashrc")]);
}

#[tokio::test]
async fn a_file_over_the_download_cap_is_announced_not_fetched() {
    let h = Harness::new("media-big");
    h.chan.push_media(
        "1",
        "",
        vec![(
            file(MediaKind::Document, "big", Some("big.zip"), 5_000),
            vec![0u8; 5_000],
        )],
    );
    let agent = h.agent(vec![]).with_media(MediaOptions {
        max_file_bytes: 1_024,
        ..MediaOptions::default()
    });
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    assert_eq!(
        user_message(&h).content,
        "[document \"big.zip\" (4.9 KB) not downloaded: over the 1.0 KB limit]"
    );
    assert_eq!(h.chan.fetches("big"), 0);
}

#[tokio::test]
async fn a_file_saved_before_a_restart_is_not_downloaded_again() {
    let h = Harness::new("media-resume");
    let event = h.chan.push_media("1", "", vec![(photo("p1", 508), png())]);
    let name = format!("fake-{event}-photo.jpg");
    // As if a previous run had saved it and died before the model call.
    std::fs::create_dir_all(h.opts.workspace.join("inbox")).unwrap();
    std::fs::write(h.opts.workspace.join("inbox").join(&name), png()).unwrap();
    let agent = h.agent(vec![]).with_media(vision());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    assert_eq!(h.chan.fetches("p1"), 0);
    assert_eq!(user_message(&h).images.len(), 1);
}

#[tokio::test]
async fn send_file_queues_the_file_with_its_result_and_the_outbox_uploads_it_once() {
    let h = Harness::new("media-send");
    h.chan.max_file_bytes.store(1_000, Ordering::SeqCst);
    std::fs::create_dir_all(h.opts.workspace.join("out")).unwrap();
    std::fs::write(h.opts.workspace.join("out/report.txt"), "the report").unwrap();
    h.llm
        .push(Step::Call(
            "send_file".into(),
            r#"{"path":"out/report.txt"}"#.into(),
        ))
        .push(Step::Text("Sent.".into()));
    h.chan.push("1", "send me the report");
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| {
        !h.chan.sent().is_empty() && !h.chan.uploads().is_empty()
    })
    .await;
    let uploads = h.chan.uploads();
    assert_eq!(uploads.len(), 1);
    let (chat, f, bytes) = &uploads[0];
    assert_eq!(
        (chat.as_str(), f.name.as_str(), f.photo),
        ("1", "report.txt", false)
    );
    assert_eq!(bytes, b"the report");
    let result = &h.llm.requests()[1].messages;
    assert_eq!(
        result.last().unwrap().content,
        "out/report.txt (10 bytes) goes to this chat as a document with your reply."
    );
    // A second run (a restart) sends nothing again.
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.chan.push("1", "thanks");
    h.run_agent_until(agent, |h| h.chan.sent().len() == 2).await;
    assert_eq!(h.chan.uploads().len(), 1);
}

#[tokio::test]
async fn send_file_over_the_chat_limit_is_refused_with_a_clear_message() {
    let h = Harness::new("media-send-big");
    h.chan.max_file_bytes.store(1_000, Ordering::SeqCst);
    std::fs::write(h.opts.workspace.join("big.bin"), vec![1u8; 4_096]).unwrap();
    h.llm
        .push(Step::Call(
            "send_file".into(),
            r#"{"path":"big.bin"}"#.into(),
        ))
        .push(Step::Text("Too big.".into()));
    h.chan.push("1", "send it");
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.chan.uploads().is_empty());
    assert_eq!(
        h.llm.requests()[1].messages.last().unwrap().content,
        "big.bin is 4.0 KB, over the 1000 bytes fake accepts for a file; nothing was sent. Compress or split it first."
    );
}

#[tokio::test]
async fn send_file_refuses_paths_outside_the_workspace() {
    let h = Harness::new("media-send-escape");
    h.chan.max_file_bytes.store(1_000_000, Ordering::SeqCst);
    h.llm
        .push(Step::Call(
            "send_file".into(),
            r#"{"path":"../../etc/passwd"}"#.into(),
        ))
        .push(Step::Text("No.".into()));
    h.chan.push("1", "send passwd");
    let agent = h.agent(vec![]).with_media(MediaOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    assert!(h.chan.uploads().is_empty());
    assert_eq!(
        h.llm.requests()[1].messages.last().unwrap().content,
        "path escapes the workspace: ../../etc/passwd"
    );
}
