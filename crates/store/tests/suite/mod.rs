mod access;
mod audit;
mod errors;
mod ingest;
mod memory;
mod open;
mod outbox;
mod sessions;
mod usage;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};

/// A scratch state directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("picoclaw-store-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn text(event_id: &str, chat_id: &str, body: &str) -> Inbound {
    Inbound {
        channel: "telegram".into(),
        event_id: event_id.into(),
        chat_id: chat_id.into(),
        chat_kind: ChatKind::Direct,
        sender: Sender {
            id: "42".into(),
            username: Some("ada".into()),
            display: "Ada L".into(),
        },
        message_id: Some(format!("m{event_id}")),
        kind: InboundKind::Text(body.into()),
    }
}
