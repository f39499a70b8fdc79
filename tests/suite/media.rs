//! Photos, voice notes and documents from the fake Telegram (downloaded
//! over HTTP with getFile) reach the model in the right form, and
//! send_file uploads to it; Discord attachments likewise.

use std::time::Duration;

use picoclaw_testkit::fake_discord::FakeDiscord;
use picoclaw_testkit::fake_llm::base64_decode;
use picoclaw_testkit::fake_telegram::{Fault, Incoming};
use serde_json::{json, Value};

use crate::util::*;

/// A JPEG start and filler: what the image sniffing needs.
fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.resize(len, 0x5A);
    b
}

/// The fake's two made-up photo sizes, with real downloadable files.
fn photo(p: &Picoclaw, small: &[u8], big: &[u8]) -> Value {
    p.tg.put_file("ph-small", small.to_vec());
    p.tg.put_file("ph-big", big.to_vec());
    json!([
        {"file_id": "ph-small", "file_unique_id": "us", "width": 90, "height": 68, "file_size": small.len()},
        {"file_id": "ph-big", "file_unique_id": "ub", "width": 1280, "height": 960, "file_size": big.len()},
    ])
}

/// The last user message of model request `n`, as sent.
fn user_content(p: &Picoclaw, n: usize) -> Value {
    let reqs = p.llm.requests();
    assert!(reqs.len() > n, "{} requests\n{}", reqs.len(), p.stderr());
    reqs[n].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .clone()
}

#[test]
fn a_photo_reaches_a_vision_model_as_an_image_part_of_the_best_fitting_size() {
    let mut p = Picoclaw::with_config("media-photo", "vision = true\n");
    p.start();
    let big = jpeg(40_000);
    let media = photo(&p, &jpeg(1_000), &big);
    let id = p.tg.push(
        Incoming::direct(USER, "alice")
            .media_with("photo", media)
            .text("what is in it?"),
    );
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(p.tg.downloads(), 1, "only the chosen size is fetched");
    let saved = format!("inbox/telegram-{id}-photo.jpg");
    let content = user_content(&p, 0);
    assert_eq!(
        content[0],
        json!({"type": "text", "text": format!("[photo saved at {saved} (39.1 KB)]\nwhat is in it?")})
    );
    assert_eq!(content[1]["type"], "image_url");
    let url = content[1]["image_url"]["url"].as_str().unwrap();
    let data = url.strip_prefix("data:image/jpeg;base64,").unwrap();
    assert_eq!(base64_decode(data).unwrap(), big);
    assert_eq!(std::fs::read(p.workspace().join(&saved)).unwrap(), big);
}

#[test]
fn without_vision_the_model_is_told_where_the_photo_was_saved() {
    let mut p = Picoclaw::new("media-photo-text");
    p.start();
    let media = photo(&p, &jpeg(1_000), &jpeg(2_000));
    let id =
        p.tg.push(Incoming::direct(USER, "alice").media_with("photo", media));
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(
        user_content(&p, 0),
        json!(format!(
            "[photo saved at inbox/telegram-{id}-photo.jpg (2.0 KB)]"
        ))
    );
}

#[test]
fn a_voice_note_is_transcribed_by_the_transcription_server_and_the_words_reach_the_model() {
    let tg = FakeTelegram::start(TOKEN);
    let llm = FakeLlm::start_with_key(LLM_KEY);
    let extra = format!(
        "[transcription]\nbase_url = \"{}\"\nmodel = \"whisper-1\"\napi_key = \"{LLM_KEY}\"\n",
        llm.openai_base()
    );
    let mut p = Picoclaw::with_fakes("media-voice", tg, llm, &extra);
    p.start();
    let speech = b"what is on my calendar tomorrow".to_vec();
    p.tg.put_file("voice-1", speech.clone());
    let id = p.tg.push(Incoming::direct(USER, "alice").media_with(
        "voice",
        json!({"file_id": "voice-1", "file_unique_id": "uv", "duration": 2,
               "mime_type": "audio/ogg", "file_size": speech.len()}),
    ));
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    let name = format!("telegram-{id}-voice.ogg");
    assert_eq!(
        user_content(&p, 0),
        json!(format!(
            "[voice note (2 s) saved at inbox/{name} (31 B); transcribed:]\nwhat is on my calendar tomorrow"
        ))
    );
    let t = p.llm.transcriptions();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (
            t[0].model.as_str(),
            t[0].filename.as_str(),
            t[0].content_type.as_deref(),
            t[0].bytes
        ),
        ("whisper-1", name.as_str(), Some("audio/ogg"), speech.len())
    );
    assert!(
        t[0].content_length.is_some(),
        "sent with a length, not chunked"
    );
}

#[test]
fn without_transcription_the_model_is_told_a_voice_note_was_saved() {
    let mut p = Picoclaw::new("media-voice-plain");
    p.start();
    p.tg.put_file("voice-1", b"OggS....".to_vec());
    let id = p.tg.push(Incoming::direct(USER, "alice").media_with(
        "voice",
        json!({"file_id": "voice-1", "file_unique_id": "uv", "duration": 5, "mime_type": "audio/ogg"}),
    ));
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(
        user_content(&p, 0),
        json!(format!("[voice note (5 s) saved at inbox/telegram-{id}-voice.ogg (8 B); no transcription is set up, so its words are unknown]"))
    );
}

#[test]
fn a_document_with_a_path_traversal_name_is_saved_in_the_inbox_and_the_file_tools_read_it() {
    let mut p = Picoclaw::new("media-doc");
    p.start();
    p.tg.put_file("doc-1", b"quarterly numbers: 42\n".to_vec());
    let id = p.tg.push(
        Incoming::direct(USER, "alice")
            .media_with(
                "document",
                json!({"file_id": "doc-1", "file_unique_id": "ud",
                       "file_name": "../../../../etc/cron.d/.evil", "mime_type": "text/plain"}),
            )
            .text("summarise"),
    );
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    let rel = format!("inbox/telegram-{id}-evil");
    assert_eq!(
        user_content(&p, 0),
        json!(format!("[document \"../../../../etc/cron.d/.evil\" saved at {rel} (22 B); the file tools can read it]\nsummarise"))
    );
    assert!(!std::path::Path::new("/etc/cron.d/.evil").exists());
    assert!(!p.dir.path().join("etc").exists());
    p.say(&format!(r#"[[call read_file {{"path":"{rel}"}}]]"#));
    assert_eq!(p.replies(2).len(), 2, "{}", p.stderr());
    assert_eq!(p.tool_messages(2), ["quarterly numbers: 42\n"]);
}

#[test]
fn a_download_cut_by_the_network_is_retried_and_answered_once() {
    let mut p = Picoclaw::new("media-retry");
    p.tg.fail_next("file", Fault::Hangup);
    p.start();
    let media = photo(&p, &jpeg(100), &jpeg(3_000));
    p.tg.push(Incoming::direct(USER, "alice").media_with("photo", media));
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(p.tg.downloads(), 1);
    assert!(user_content(&p, 0)
        .as_str()
        .unwrap()
        .starts_with("[photo saved at inbox/"));
}

#[test]
fn a_kill_during_the_download_re_downloads_on_restart_and_answers_once() {
    let mut p = Picoclaw::new("media-kill");
    p.tg.fail_next("file", Fault::Delay(Duration::from_secs(60)));
    p.start();
    p.tg.put_file("doc-1", b"contents".to_vec());
    let id = p.tg.push(Incoming::direct(USER, "alice").media_with(
        "document",
        json!({"file_id": "doc-1", "file_unique_id": "ud", "file_name": "a.txt"}),
    ));
    // The event is stored before anything is fetched; the download hangs.
    assert!(p.wait_log("fetching inbox/", WAIT), "{}", p.stderr());
    // The log line comes before the request: kill only once the fake holds
    // the hanging download, or the restarted process would meet the delay.
    assert!(
        wait_until(WAIT, || p.tg.pending_faults("file") == 0),
        "{}",
        p.stderr()
    );
    assert_eq!(p.inbound_rows().len(), 1);
    p.kill9();
    assert_eq!(p.tg.downloads(), 0);
    p.start();
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(p.tg.downloads(), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.tg.sent().len(), 1, "answered once");
    assert_eq!(
        std::fs::read(p.workspace().join(format!("inbox/telegram-{id}-a.txt"))).unwrap(),
        b"contents"
    );
}

#[test]
fn send_file_uploads_documents_and_photos_and_refuses_a_file_over_the_limit() {
    let mut p = Picoclaw::new("media-send");
    p.start();
    std::fs::create_dir_all(p.workspace()).unwrap();
    std::fs::write(p.workspace().join("notes.txt"), "remember the milk").unwrap();
    std::fs::write(p.workspace().join("chart.jpg"), jpeg(5_000)).unwrap();
    let huge = std::fs::File::create(p.workspace().join("huge.bin")).unwrap();
    huge.set_len(51 * 1024 * 1024).unwrap();
    p.say(r#"[[call send_file {"path":"notes.txt"}]] [[call send_file {"path":"chart.jpg"}]] [[call send_file {"path":"huge.bin"}]]"#);
    let files = p.tg.wait_for_files(2, WAIT);
    assert_eq!(files.len(), 2, "{}", p.stderr());
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    assert_eq!(
        (
            files[0].method.as_str(),
            files[0].filename.as_deref(),
            files[0].bytes.as_slice()
        ),
        ("sendDocument", Some("notes.txt"), &b"remember the milk"[..])
    );
    assert_eq!(
        (
            files[1].method.as_str(),
            files[1].filename.as_deref(),
            files[1].bytes.len()
        ),
        ("sendPhoto", Some("chart.jpg"), 5_000)
    );
    assert_eq!(files[0].content_type.as_deref(), Some("text/plain"));
    let results = p.tool_messages(1);
    assert_eq!(
        results,
        [
            "notes.txt (17 bytes) goes to this chat as a document with your reply.",
            "chart.jpg (4.9 KB) goes to this chat as a photo with your reply.",
            "huge.bin is 51.0 MB, over the 50.0 MB telegram accepts for a file; nothing was sent. Compress or split it first.",
        ]
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.tg.sent_files().len(), 2, "nothing else uploaded");
}

#[test]
fn a_discord_image_attachment_is_downloaded_and_send_file_attaches_a_file() {
    let discord = FakeDiscord::start(DISCORD_TOKEN);
    let extra = format!(
        "vision = true\n\n[channels.discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_base = \"{}\"\nallow_from = [\"{ALICE}\"]\n",
        discord.api_base()
    );
    let mut p = Picoclaw::with_config("media-discord", &extra);
    p.start();
    assert!(discord.wait_for_ready(1, WAIT), "{}", p.stderr());
    let png = {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.resize(700, 1);
        b
    };
    let att = discord.attachment("cat.png", "image/png", png.clone());
    let id = discord.dm_with(ALICE, "what breed?", vec![att]);
    assert!(
        wait_until(WAIT, || !discord.sent().is_empty()),
        "{}",
        p.stderr()
    );
    assert_eq!(discord.downloads(), 1);
    let content = user_content(&p, 0);
    assert_eq!(
        content[0]["text"],
        format!("[photo saved at inbox/discord-{id}-cat.png (700 B)]\nwhat breed?")
    );
    let url = content[1]["image_url"]["url"].as_str().unwrap();
    assert_eq!(
        base64_decode(url.strip_prefix("data:image/png;base64,").unwrap()).unwrap(),
        png
    );
    std::fs::write(p.workspace().join("report.txt"), "the report").unwrap();
    discord.dm(ALICE, r#"[[call send_file {"path":"report.txt"}]]"#);
    assert!(
        wait_until(WAIT, || discord
            .sent()
            .iter()
            .any(|m| !m.attachments.is_empty())),
        "{}",
        p.stderr()
    );
    let with_file: Vec<_> = discord
        .sent()
        .into_iter()
        .filter(|m| !m.attachments.is_empty())
        .collect();
    assert_eq!(with_file.len(), 1);
    assert_eq!(
        with_file[0].attachments,
        [(String::from("report.txt"), b"the report".to_vec())]
    );
}

const DISCORD_TOKEN: &str = "MTAxNjQ4ODk5.e2e-discord-media.never-logged";
/// The allowed Discord user; their DM channel is `5` + this.
const ALICE: &str = "2024";
