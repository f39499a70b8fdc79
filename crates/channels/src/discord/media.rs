//! Discord attachments (<https://discord.com/developers/docs/resources/message#attachment-object>)
//! as [`MediaFile`]s, their download from the CDN URL, and files sent as a
//! message with one attachment (`multipart/form-data`).

use std::time::Duration;

use picoclaw_core::{ChannelError, FileRef, MediaFile, MediaKind, OutFile};
use picoclaw_http::{Download, HttpError, Multipart};
use serde_json::{json, Map, Value};

use super::rest::{to_channel_error, Failure};
use super::{snowflake, Discord};

/// What a bot may attach without a server boost (10 MiB since 2024).
pub const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// Message flag IS_VOICE_MESSAGE.
const VOICE_MESSAGE: u64 = 1 << 13;

/// A file of up to 10 MiB on a slow uplink takes minutes.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// The message's attachments, in order; empty when it has none.
pub(crate) fn attachments(msg: &Map<String, Value>) -> Vec<MediaFile> {
    let voice = msg
        .get("flags")
        .and_then(Value::as_u64)
        .is_some_and(|f| f & VOICE_MESSAGE != 0);
    let Some(list) = msg.get("attachments").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let url = a
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())?;
            let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
            let n = |k: &str| a.get(k).and_then(Value::as_u64);
            let mime = s("content_type");
            let major = mime
                .as_deref()
                .and_then(|m| m.split('/').next())
                .unwrap_or("");
            let kind = match major {
                "image" => MediaKind::Photo,
                "audio" if voice => MediaKind::Voice,
                "audio" => MediaKind::Audio,
                _ => MediaKind::Document,
            };
            Some(MediaFile {
                kind,
                name: s("filename"),
                mime,
                duration_secs: a
                    .get("duration_secs")
                    .and_then(Value::as_f64)
                    .map(|d| d.max(0.0).round() as u32),
                sizes: vec![FileRef {
                    id: url.to_owned(),
                    bytes: n("size"),
                    width: n("width").and_then(|w| u32::try_from(w).ok()),
                    height: n("height").and_then(|h| u32::try_from(h).ok()),
                }],
            })
        })
        .collect()
}

impl Discord {
    pub(super) fn fetch(
        &self,
        url: &str,
        max: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ChannelError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ChannelError::Rejected {
                status: 400,
                message: String::from("attachment URL is not http(s)"),
            });
        }
        match self.rest.download(url, max, out, TRANSFER_TIMEOUT) {
            Ok(Download::Saved(n)) => Ok(n),
            Ok(Download::Refused(resp)) if resp.status == 429 || resp.status >= 500 => {
                Err(ChannelError::Retry {
                    reason: format!("Discord attachment download: HTTP {}", resp.status),
                    after: resp.retry_after,
                })
            }
            Ok(Download::Refused(resp)) => Err(ChannelError::Rejected {
                status: resp.status,
                message: format!("attachment download: HTTP {}", resp.status),
            }),
            Err(HttpError::TooLarge(m)) => Err(ChannelError::Rejected {
                status: 413,
                message: format!("the attachment is over the {m}-byte limit"),
            }),
            Err(e) => Err(to_channel_error(
                "attachment download",
                &self.rest.api_base,
                Failure::Transport(e),
            )),
        }
    }

    pub(super) fn upload(
        &self,
        chat_id: &str,
        file: &OutFile,
        mut data: std::fs::File,
        len: u64,
    ) -> Result<(), ChannelError> {
        let channel = snowflake(chat_id)?;
        if len > MAX_UPLOAD_BYTES {
            return Err(ChannelError::Rejected {
                status: 413,
                message: format!(
                    "the file is {len} bytes, over Discord's {MAX_UPLOAD_BYTES}-byte limit"
                ),
            });
        }
        let payload = json!({
            "attachments": [{"id": 0, "filename": file.name}],
            "allowed_mentions": {"parse": []},
        });
        let form = Multipart::new().text("payload_json", &payload.to_string());
        let content_type = form.content_type();
        let mime = picoclaw_http::guess_mime(&file.name);
        let (mut body, total) = form.file("files[0]", &file.name, mime, &mut data, len);
        self.rest
            .post_multipart(channel, &content_type, &mut body, total, TRANSFER_TIMEOUT)
            .map(drop)
            .map_err(|f| self.fatal_check(to_channel_error("upload file", &self.rest.api_base, f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_map_to_photos_voice_audio_and_documents() {
        let msg = json!({
            "flags": 8192,
            "attachments": [
                {"id": "1", "filename": "cat.png", "content_type": "image/png", "size": 2048,
                 "url": "https://cdn.discordapp.com/attachments/1/1/cat.png", "width": 640, "height": 480},
                {"id": "2", "filename": "voice-message.ogg", "content_type": "audio/ogg", "size": 9000,
                 "url": "https://cdn.discordapp.com/attachments/1/2/voice-message.ogg", "duration_secs": 3.4},
                {"id": "3", "filename": "notes.txt", "size": 10, "url": "https://cdn.discordapp.com/attachments/1/3/notes.txt"},
                {"id": "4", "filename": "no-url.bin", "size": 1}
            ]
        });
        let files = attachments(msg.as_object().unwrap());
        let kinds: Vec<MediaKind> = files.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [MediaKind::Photo, MediaKind::Voice, MediaKind::Document]
        );
        assert_eq!(
            files[0].sizes,
            [FileRef {
                id: String::from("https://cdn.discordapp.com/attachments/1/1/cat.png"),
                bytes: Some(2048),
                width: Some(640),
                height: Some(480),
            }]
        );
        assert_eq!(files[1].duration_secs, Some(3));
        assert_eq!(files[2].name.as_deref(), Some("notes.txt"));
    }
}
