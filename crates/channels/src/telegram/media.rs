//! Telegram's file objects (`PhotoSize`, `Voice`, `Audio`, `Document`,
//! <https://core.telegram.org/bots/api#available-types>) as
//! [`MediaFile`]s, and the file endpoints: `getFile` then
//! `GET {api_base}/file/bot<token>/<file_path>` to download, `sendPhoto` /
//! `sendDocument` as `multipart/form-data` to upload.

use std::time::Duration;

use picoclaw_core::{ChannelError, FileRef, MediaFile, MediaKind, OutFile};
use picoclaw_http::{Download, HttpError, Multipart};
use serde_json::{json, Map, Value};

use super::api::{parse_envelope, to_channel_error, Failure};
use super::{chat_ref, Telegram};

/// A file of up to 50 MB on a slow uplink takes minutes, not the 20 s an
/// ordinary call gets.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// `sendDocument`: "Bots can currently send files of any type of up to 50
/// MB in size".
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// `sendPhoto`: "The photo must be at most 10 MB in size."
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
/// `getFile`: "bots can download files of up to 20MB in size".
pub const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// The media kinds the agent takes, in the message's own field names.
pub(crate) const HANDLED: &[&str] = &["photo", "voice", "audio", "document"];

fn file_ref(v: &Value) -> Option<FileRef> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(FileRef {
        id: v
            .get("file_id")?
            .as_str()
            .filter(|s| !s.is_empty())?
            .to_owned(),
        bytes: n("file_size"),
        width: n("width").and_then(|w| u32::try_from(w).ok()),
        height: n("height").and_then(|h| u32::try_from(h).ok()),
    })
}

/// The file of a message whose media field is `kind` (one of
/// [`HANDLED`]); `None` when it lacks the documented shape.
pub(crate) fn media_file(msg: &Map<String, Value>, kind: &str) -> Option<MediaFile> {
    let v = msg.get(kind)?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let duration = v
        .get("duration")
        .and_then(Value::as_u64)
        .and_then(|d| u32::try_from(d).ok());
    let (kind, sizes) = match kind {
        "photo" => {
            let mut sizes: Vec<FileRef> = v.as_array()?.iter().filter_map(file_ref).collect();
            // Documented as "available sizes", which in practice come
            // smallest first; sort so nothing depends on it.
            sizes.sort_by_key(|f| {
                u64::from(f.width.unwrap_or(0)) * u64::from(f.height.unwrap_or(0))
            });
            (MediaKind::Photo, sizes)
        }
        "voice" => (MediaKind::Voice, vec![file_ref(v)?]),
        "audio" => (MediaKind::Audio, vec![file_ref(v)?]),
        _ => (MediaKind::Document, vec![file_ref(v)?]),
    };
    if sizes.is_empty() {
        return None;
    }
    Some(MediaFile {
        kind,
        name: s("file_name"),
        mime: s("mime_type")
            .or_else(|| (kind == MediaKind::Photo).then(|| String::from("image/jpeg"))),
        duration_secs: duration,
        sizes,
    })
}

impl Telegram {
    /// `getFile`, then the download, into `out`.
    pub(super) fn fetch(
        &self,
        file_id: &str,
        max: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ChannelError> {
        let info = self.call("getFile", &json!({ "file_id": file_id }), None)?;
        if let Some(size) = info.get("file_size").and_then(Value::as_u64) {
            if size > max {
                return Err(too_big(size, max));
            }
        }
        let Some(path) = info.get("file_path").and_then(Value::as_str) else {
            return Err(ChannelError::Rejected {
                status: 400,
                message: String::from("Telegram getFile returned no file_path (the file is gone or over the 20 MB bots may download)"),
            });
        };
        match self.api.download(path, max, out, TRANSFER_TIMEOUT) {
            Ok(Download::Saved(n)) => Ok(n),
            Ok(Download::Refused(resp)) => Err(match parse_envelope(&resp) {
                Err(Failure::Api {
                    status,
                    description,
                    retry_after,
                }) if status == 429 || status >= 500 => ChannelError::Retry {
                    reason: format!("Telegram file download: HTTP {status}: {description}"),
                    after: retry_after,
                },
                Err(Failure::Api {
                    status,
                    description,
                    ..
                }) => ChannelError::Rejected {
                    status,
                    message: format!("file download: {description}"),
                },
                _ => ChannelError::Retry {
                    reason: format!("Telegram file download: HTTP {}", resp.status),
                    after: None,
                },
            }),
            Err(HttpError::TooLarge(_)) => Err(too_big(max + 1, max)),
            Err(e) => Err(to_channel_error(
                "file download",
                &self.api.api_base,
                Failure::Transport(e),
            )),
        }
    }

    /// `sendPhoto` for a photo within its limit, else `sendDocument`.
    pub(super) fn upload(
        &self,
        chat_id: &str,
        file: &OutFile,
        mut data: std::fs::File,
        len: u64,
    ) -> Result<(), ChannelError> {
        if len > MAX_UPLOAD_BYTES {
            return Err(too_big(len, MAX_UPLOAD_BYTES));
        }
        let (method, field) = if file.photo && len <= MAX_PHOTO_BYTES {
            ("sendPhoto", "photo")
        } else {
            ("sendDocument", "document")
        };
        let chat = match chat_ref(chat_id) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let form = Multipart::new().text("chat_id", &chat);
        let content_type = form.content_type();
        let mime = picoclaw_http::guess_mime(&file.name);
        let (mut body, total) = form.file(field, &file.name, mime, &mut data, len);
        self.api
            .call_multipart(method, &content_type, &mut body, total, TRANSFER_TIMEOUT)
            .map(drop)
            .map_err(|f| to_channel_error(method, &self.api.api_base, f))
    }
}

fn too_big(size: u64, max: u64) -> ChannelError {
    ChannelError::Rejected {
        status: 413,
        message: format!("the file is {size} bytes, over the {max}-byte limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn photo_sizes_come_out_smallest_first_and_sizes_without_ids_are_dropped() {
        let msg = json!({"photo": [
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 180000},
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67, "file_size": 1200},
            {"file_unique_id": "broken", "width": 320, "height": 240}
        ]});
        let f = media_file(msg.as_object().unwrap(), "photo").unwrap();
        assert_eq!(f.kind, MediaKind::Photo);
        assert_eq!(f.mime.as_deref(), Some("image/jpeg"));
        let ids: Vec<&str> = f.sizes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["small", "big"]);
        assert_eq!(f.sizes[1].bytes, Some(180_000));
    }

    #[test]
    fn voice_audio_and_documents_keep_name_type_and_duration() {
        let msg = json!({
            "voice": {"file_id": "v", "file_unique_id": "u", "duration": 4, "mime_type": "audio/ogg", "file_size": 9000},
            "document": {"file_id": "d", "file_unique_id": "u2", "file_name": "../x.pdf", "mime_type": "application/pdf"}
        });
        let m = msg.as_object().unwrap();
        let v = media_file(m, "voice").unwrap();
        assert_eq!(
            (v.kind, v.duration_secs, v.sizes[0].bytes),
            (MediaKind::Voice, Some(4), Some(9000))
        );
        let d = media_file(m, "document").unwrap();
        assert_eq!(
            (d.kind, d.name.as_deref()),
            (MediaKind::Document, Some("../x.pdf"))
        );
        assert!(media_file(
            &json!({"voice": {"duration": 1}})
                .as_object()
                .unwrap()
                .clone(),
            "voice"
        )
        .is_none());
    }
}
