//! Test doubles for picoclaw: a minimal HTTP/1.1 server on 127.0.0.1 and,
//! built on it, fakes of the Telegram Bot API, of Discord (Gateway
//! WebSocket and REST) and of LLM providers (OpenAI-compatible and
//! Anthropic Messages) that follow the public API docs: status codes,
//! `ok:false` bodies, `retry_after`, close codes. Tests and benches drive
//! the real picoclaw binary against them. Each HTTP fake can also serve
//! HTTPS with a certificate from a CA made at test time ([`tls`]). Nothing
//! here listens on a non-loopback address.

pub mod fake_discord;
pub mod fake_llm;
pub mod fake_telegram;
pub mod http;
pub mod multipart;
pub mod tls;
