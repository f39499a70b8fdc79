//! Building the `Message` objects users "send", shaped as the Bot API
//! delivers them: server-detected `entities` (bot commands, mentions) with
//! UTF-16 offsets, `reply_to_message` embedding the replied message without
//! its own reply, media objects with `file_id`s, captions instead of text.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{now_unix, Chat};

/// A message from a user, to push with [`super::FakeTelegram::push`].
#[derive(Debug, Clone)]
pub struct Incoming {
    chat_id: i64,
    group: bool,
    from_id: i64,
    username: String,
    first_name: String,
    is_bot: bool,
    text: Option<String>,
    media: Option<String>,
    /// Replaces the made-up media object (real file ids, sizes, names).
    media_object: Option<Value>,
    reply_to: Option<i64>,
}

impl Incoming {
    /// A private chat with `from_id` (chat id = user id).
    pub fn direct(from_id: i64, username: &str) -> Incoming {
        Incoming::new(from_id, false, from_id, username)
    }

    /// A supergroup message; `chat_id` should be negative, as Telegram's are.
    pub fn group(chat_id: i64, from_id: i64, username: &str) -> Incoming {
        Incoming::new(chat_id, true, from_id, username)
    }

    fn new(chat_id: i64, group: bool, from_id: i64, username: &str) -> Incoming {
        Incoming {
            chat_id,
            group,
            from_id,
            username: username.trim_start_matches('@').to_owned(),
            first_name: format!("User{from_id}"),
            is_bot: false,
            text: None,
            media: None,
            media_object: None,
            reply_to: None,
        }
    }

    /// Attaches media `kind` described by `object` exactly as given (a
    /// `PhotoSize` array for "photo", a `Voice`, `Audio` or `Document`
    /// object otherwise), e.g. naming a file made with
    /// [`super::FakeTelegram::put_file`].
    pub fn media_with(mut self, kind: &str, object: Value) -> Incoming {
        self.media = Some(kind.to_owned());
        self.media_object = Some(object);
        self
    }

    /// The text, or the caption when media is attached.
    pub fn text(mut self, text: &str) -> Incoming {
        self.text = Some(text.to_owned());
        self
    }

    /// Attaches media: "photo", "voice", "video", "video_note", "audio",
    /// "document", "sticker", "animation".
    pub fn media(mut self, kind: &str) -> Incoming {
        self.media = Some(kind.to_owned());
        self
    }

    /// Replies to an earlier message of this chat (one pushed or one the
    /// bot sent).
    pub fn reply_to(mut self, message_id: i64) -> Incoming {
        self.reply_to = Some(message_id);
        self
    }

    pub fn first_name(mut self, name: &str) -> Incoming {
        self.first_name = name.to_owned();
        self
    }

    /// Sent by another bot.
    pub fn from_bot(mut self) -> Incoming {
        self.is_bot = true;
        self
    }

    pub(super) fn build(self, chats: &mut HashMap<i64, Chat>) -> Value {
        let kind = if self.group { "supergroup" } else { "private" };
        let chat = chats.entry(self.chat_id).or_insert_with(|| Chat {
            kind: kind.to_owned(),
            next_message_id: 1,
            messages: HashMap::new(),
        });
        let message_id = chat.next_message_id;
        chat.next_message_id += 1;
        let mut from = json!({
            "id": self.from_id, "is_bot": self.is_bot,
            "first_name": self.first_name, "language_code": "en",
        });
        let mut chat_json = if self.group {
            json!({"id": self.chat_id, "type": "supergroup", "title": "Test group"})
        } else {
            json!({"id": self.chat_id, "type": "private", "first_name": self.first_name})
        };
        if !self.username.is_empty() {
            from["username"] = json!(self.username);
            if !self.group {
                chat_json["username"] = json!(self.username);
            }
        }
        let mut msg = json!({
            "message_id": message_id, "from": from, "chat": chat_json, "date": now_unix(),
        });
        let (text_key, entities_key) = match &self.media {
            Some(kind) => {
                msg[kind.as_str()] = self
                    .media_object
                    .clone()
                    .unwrap_or_else(|| media_object(kind, message_id));
                if kind == "animation" {
                    // Documented: animations also carry a `document`.
                    msg["document"] = media_object("document", message_id);
                }
                ("caption", "caption_entities")
            }
            None => ("text", "entities"),
        };
        if let Some(text) = &self.text {
            msg[text_key] = json!(text);
            let entities = entities(text);
            if !entities.is_empty() {
                msg[entities_key] = Value::Array(entities);
            }
        }
        if let Some(id) = self.reply_to {
            match chat.messages.get(&id) {
                Some(replied) => msg["reply_to_message"] = replied.clone(),
                None => panic!("fake telegram: no message {id} in chat {}", self.chat_id),
            }
        }
        let mut stored = msg.clone();
        if let Some(obj) = stored.as_object_mut() {
            obj.remove("reply_to_message");
        }
        chat.messages.insert(message_id, stored);
        msg
    }
}

fn media_object(kind: &str, n: i64) -> Value {
    let file = |suffix: &str| json!(format!("AgACAgIAAx{kind}{n}{suffix}"));
    match kind {
        "photo" => json!([
            {"file_id": file("s"), "file_unique_id": file("us"), "width": 90, "height": 90, "file_size": 1200},
            {"file_id": file("m"), "file_unique_id": file("um"), "width": 800, "height": 800, "file_size": 64000},
        ]),
        "sticker" => json!({
            "file_id": file(""), "file_unique_id": file("u"), "type": "regular",
            "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍",
        }),
        "voice" => {
            json!({"file_id": file(""), "file_unique_id": file("u"), "duration": 3, "mime_type": "audio/ogg"})
        }
        "document" => {
            json!({"file_id": file(""), "file_unique_id": file("u"), "file_name": "notes.pdf", "mime_type": "application/pdf"})
        }
        _ => json!({"file_id": file(""), "file_unique_id": file("u"), "duration": 2}),
    }
}

/// What Telegram detects in plain text: a leading `/command[@bot]` and
/// `@username` mentions, with offsets and lengths in UTF-16 code units.
fn entities(text: &str) -> Vec<Value> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let units = |range: &[char]| range.iter().map(|c| c.len_utf16()).sum::<usize>();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_word = i == 0 || !word(chars[i - 1]);
        if (c == '/' && i == 0) || (c == '@' && starts_word) {
            let mut j = i + 1;
            while j < chars.len() && (word(chars[j]) || (c == '/' && chars[j] == '@')) {
                j += 1;
            }
            let name_len = j - i - 1;
            let valid = if c == '/' {
                name_len >= 1
            } else {
                name_len >= 4
            };
            if valid {
                out.push(json!({
                    "type": if c == '/' { "bot_command" } else { "mention" },
                    "offset": units(&chars[..i]),
                    "length": units(&chars[i..j]),
                }));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_use_utf16_offsets() {
        assert_eq!(
            entities("/new@picotest_bot 😀 hi @alice_x"),
            vec![
                json!({"type": "bot_command", "offset": 0, "length": 17}),
                json!({"type": "mention", "offset": 24, "length": 8}),
            ]
        );
        assert!(entities("mail me@host.org").is_empty());
    }
}
