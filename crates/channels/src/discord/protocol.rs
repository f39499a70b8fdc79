//! Discord Gateway v10 JSON payloads, close codes and the send limit —
//! pure, so every rule is unit-tested without a socket.
//!
//! <https://discord.com/developers/docs/events/gateway> and
//! <https://discord.com/developers/docs/topics/opcodes-and-status-codes>.

use std::time::{Duration, Instant};

use heapless::HistoryBuffer;
use serde_json::{json, Value};

pub(crate) const OP_DISPATCH: u64 = 0;
pub(crate) const OP_HEARTBEAT: u64 = 1;
pub(crate) const OP_IDENTIFY: u64 = 2;
pub(crate) const OP_RESUME: u64 = 6;
pub(crate) const OP_RECONNECT: u64 = 7;
pub(crate) const OP_INVALID_SESSION: u64 = 9;
pub(crate) const OP_HELLO: u64 = 10;
pub(crate) const OP_HEARTBEAT_ACK: u64 = 11;

/// GUILDS (channels and threads, to know a thread's parent), GUILD_MESSAGES,
/// DIRECT_MESSAGES and MESSAGE_CONTENT (privileged: without it guild
/// messages arrive with empty content).
pub(crate) const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);

/// The query every gateway URL gets: API v10, JSON, no compression.
pub(crate) const GATEWAY_QUERY: &str = "v=10&encoding=json";

/// One payload received from the gateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Hello {
        interval: Duration,
    },
    Dispatch {
        seq: Option<u64>,
        name: String,
        data: Value,
    },
    /// op 1 from the server: send a heartbeat now.
    HeartbeatRequest,
    Reconnect,
    InvalidSession {
        resumable: bool,
    },
    HeartbeatAck,
    /// An opcode a client never receives or this one does not know.
    Other(u64),
}

/// Parses one text frame. The error says what was wrong, never the
/// payload (it may hold messages).
pub(crate) fn parse(text: &str) -> Result<Event, String> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| format!("payload is not JSON ({e})"))?;
    let op = v
        .get("op")
        .and_then(Value::as_u64)
        .ok_or("payload without a numeric op")?;
    Ok(match op {
        OP_DISPATCH => {
            let name = v
                .get("t")
                .and_then(Value::as_str)
                .ok_or("dispatch without an event name")?
                .to_owned();
            Event::Dispatch {
                seq: v.get("s").and_then(Value::as_u64),
                name,
                data: v.get_mut("d").map(Value::take).unwrap_or(Value::Null),
            }
        }
        OP_HEARTBEAT => Event::HeartbeatRequest,
        OP_RECONNECT => Event::Reconnect,
        OP_INVALID_SESSION => Event::InvalidSession {
            resumable: v.get("d").and_then(Value::as_bool).unwrap_or(false),
        },
        OP_HELLO => {
            let ms = v
                .pointer("/d/heartbeat_interval")
                .and_then(Value::as_u64)
                .filter(|ms| *ms > 0)
                .ok_or("HELLO without a positive heartbeat_interval")?;
            Event::Hello {
                interval: Duration::from_millis(ms),
            }
        }
        OP_HEARTBEAT_ACK => Event::HeartbeatAck,
        other => Event::Other(other),
    })
}

pub(crate) fn heartbeat(seq: Option<u64>) -> String {
    json!({"op": OP_HEARTBEAT, "d": seq}).to_string()
}

/// Holds the token: never log it.
pub(crate) fn identify(token: &str) -> String {
    json!({
        "op": OP_IDENTIFY,
        "d": {
            "token": token,
            "intents": INTENTS,
            "properties": {"os": "linux", "browser": "picoclaw", "device": "picoclaw"},
        }
    })
    .to_string()
}

/// Holds the token: never log it.
pub(crate) fn resume(token: &str, session_id: &str, seq: u64) -> String {
    json!({
        "op": OP_RESUME,
        "d": {"token": token, "session_id": session_id, "seq": seq}
    })
    .to_string()
}

/// `url` with the gateway query, whatever form it came in (`wss://host`,
/// `wss://host/`, already with a query).
pub(crate) fn gateway_url(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    format!("{base}/?{GATEWAY_QUERY}")
}

/// What a close code means for the next connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseAction {
    /// Reconnect and RESUME the session.
    Resume,
    /// Reconnect with a fresh IDENTIFY: the session is gone.
    Identify,
    /// Do not reconnect: the configuration is wrong. The text says how to
    /// fix it.
    Stop(String),
}

/// The gateway close codes and whether to reconnect, as documented.
pub(crate) fn on_close(code: u16) -> CloseAction {
    match code {
        // 4007 invalid seq, 4009 session timed out: resuming cannot work.
        4007 | 4009 => CloseAction::Identify,
        4004 => CloseAction::Stop(String::from(
            "Discord closed the gateway with 4004 (authentication failed): the bot token is \
             wrong or was reset. Copy a new one from https://discord.com/developers/applications \
             → your application → Bot → Reset Token into channels.discord.token; run \
             `picoclaw doctor`.",
        )),
        4010 | 4011 => CloseAction::Stop(format!(
            "Discord closed the gateway with {code} (sharding required or invalid shard): this \
             bot is in too many servers for one connection, which picoclaw does not support."
        )),
        4012 | 4013 => CloseAction::Stop(format!(
            "Discord closed the gateway with {code} (invalid API version or intents): this \
             picoclaw build speaks a protocol Discord no longer accepts; upgrade picoclaw."
        )),
        4014 => CloseAction::Stop(String::from(
            "Discord closed the gateway with 4014 (disallowed intents): the bot may not read \
             message content. Enable it at https://discord.com/developers/applications → your \
             application → Bot → Privileged Gateway Intents → MESSAGE CONTENT INTENT, save, then \
             restart picoclaw.",
        )),
        // 1000/1001 from the server, 4000 unknown error, 4001..4003,
        // 4005 already authenticated, 4008 rate limited, anything else:
        // reconnect and try to resume; an invalid session answers op 9.
        _ => CloseAction::Resume,
    }
}

/// The gateway accepts 120 payloads per 60 s per connection (heartbeats
/// included) and disconnects clients that send more. The last 120 send
/// times in a fixed ring: the next send may go once the oldest is 60 s old.
#[derive(Debug, Clone)]
pub(crate) struct SendWindow {
    sent: HistoryBuffer<Instant, SEND_LIMIT>,
}

pub(crate) const SEND_LIMIT: usize = 120;
pub(crate) const SEND_PERIOD: Duration = Duration::from_secs(60);

impl SendWindow {
    pub(crate) fn new() -> SendWindow {
        SendWindow {
            sent: HistoryBuffer::new(),
        }
    }

    /// How long to wait before sending at `now`; zero when a send may go.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        if self.sent.len() < self.sent.capacity() {
            return Duration::ZERO;
        }
        match self.sent.oldest_ordered().next() {
            Some(oldest) => (*oldest + SEND_PERIOD).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    pub(crate) fn record(&mut self, now: Instant) {
        self.sent.write(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_are_guilds_guild_messages_direct_messages_and_message_content() {
        assert_eq!(INTENTS, 37377);
    }

    #[test]
    fn payloads_are_parsed_by_opcode() {
        assert_eq!(
            parse(r#"{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}"#),
            Ok(Event::Hello {
                interval: Duration::from_millis(41250)
            })
        );
        assert_eq!(
            parse(r#"{"op":0,"t":"MESSAGE_CREATE","s":7,"d":{"id":"1"}}"#),
            Ok(Event::Dispatch {
                seq: Some(7),
                name: String::from("MESSAGE_CREATE"),
                data: json!({"id": "1"})
            })
        );
        assert_eq!(
            parse(r#"{"op":9,"d":true}"#),
            Ok(Event::InvalidSession { resumable: true })
        );
        assert_eq!(
            parse(r#"{"op":9,"d":false}"#),
            Ok(Event::InvalidSession { resumable: false })
        );
        assert_eq!(parse(r#"{"op":1,"d":null}"#), Ok(Event::HeartbeatRequest));
        assert_eq!(parse(r#"{"op":7,"d":null}"#), Ok(Event::Reconnect));
        assert_eq!(parse(r#"{"op":11}"#), Ok(Event::HeartbeatAck));
        assert!(parse(r#"{"op":10,"d":{}}"#).is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn identify_and_resume_carry_what_the_docs_require() {
        let v: Value = serde_json::from_str(&identify("tok")).unwrap();
        assert_eq!(v["op"], 2);
        assert_eq!(v["d"]["token"], "tok");
        assert_eq!(v["d"]["intents"], INTENTS);
        assert_eq!(v["d"]["properties"]["os"], "linux");
        let v: Value = serde_json::from_str(&resume("tok", "sess", 42)).unwrap();
        assert_eq!(
            v,
            json!({"op": 6, "d": {"token": "tok", "session_id": "sess", "seq": 42}})
        );
        assert_eq!(heartbeat(None), r#"{"d":null,"op":1}"#);
        assert_eq!(heartbeat(Some(3)), r#"{"d":3,"op":1}"#);
    }

    #[test]
    fn gateway_urls_get_the_version_and_encoding() {
        assert_eq!(
            gateway_url("wss://gateway.discord.gg"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            gateway_url("wss://gateway-us-east1-b.discord.gg/"),
            "wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            gateway_url("ws://127.0.0.1:9/?v=9"),
            "ws://127.0.0.1:9/?v=10&encoding=json"
        );
    }

    #[test]
    fn only_configuration_close_codes_stop_the_channel() {
        for code in [1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4008] {
            assert_eq!(on_close(code), CloseAction::Resume, "{code}");
        }
        for code in [4007, 4009] {
            assert_eq!(on_close(code), CloseAction::Identify, "{code}");
        }
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert!(matches!(on_close(code), CloseAction::Stop(_)), "{code}");
        }
        let CloseAction::Stop(why) = on_close(4014) else {
            unreachable!()
        };
        assert!(why.contains("MESSAGE CONTENT INTENT"), "{why}");
    }

    #[test]
    fn the_121st_send_within_a_minute_waits_for_the_oldest_to_expire() {
        let t0 = Instant::now();
        let mut w = SendWindow::new();
        for i in 0..SEND_LIMIT as u64 {
            let at = t0 + Duration::from_millis(i * 100);
            assert_eq!(w.wait(at), Duration::ZERO);
            w.record(at);
        }
        let now = t0 + Duration::from_secs(20);
        assert_eq!(w.wait(now), Duration::from_secs(40));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(w.wait(later), Duration::ZERO);
        w.record(later);
        // The next oldest was sent at 100 ms.
        assert_eq!(w.wait(later), Duration::from_millis(100));
    }
}
