//! Who may talk beside the config's `allow_from` (people approved by
//! pairing), the one-time codes strangers get, and tool calls waiting for
//! the user's yes or no.
//!
//! The store only keeps these and applies them in transactions; the
//! policy (code length, lifetime, how many may wait) is the caller's.

use picoclaw_core::{Button, Sender};
use rusqlite::{OptionalExtension, Row};

use crate::error::StoreError;
use crate::outbox::{insert_chunks, settle, Queued};
use crate::store::{now, Store};

/// A person approved to talk to the bot on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    pub channel: String,
    pub sender_id: String,
    pub username: Option<String>,
    pub name: String,
    pub approved_at: i64,
    /// `host`, or `channel:user id` of the owner who approved.
    pub approved_by: String,
}

/// A code waiting for an owner's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode {
    pub channel: String,
    pub code: String,
    pub sender_id: String,
    pub username: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A stranger's message, to answer with a pairing code.
#[derive(Debug, Clone)]
pub struct PairingAsk<'a> {
    pub channel: &'a str,
    pub sender: &'a Sender,
    /// The stored event, settled in the same transaction.
    pub inbound_id: i64,
    pub chat_id: &'a str,
    pub reply_to: Option<&'a str>,
    /// A fresh random code, used when a new one is issued.
    pub fresh_code: &'a str,
    pub now: i64,
    /// Lifetime of a new code.
    pub ttl_secs: i64,
    /// Unexpired codes a channel may have at once.
    pub max_pending: usize,
    /// Someone who already has a code is told it again only this long
    /// after the last time.
    pub remind_after_secs: i64,
}

/// What a stranger's message led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingIssue {
    /// A new code.
    Issued { code: String, expires_at: i64 },
    /// Their code again (a reminder, or the redo of the event it was
    /// issued for).
    Again { code: String, expires_at: i64 },
    /// They were told their code a moment ago: no reply.
    Quiet,
    /// The channel already has `max_pending` codes waiting.
    Full,
}

/// The outcome of approving a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved(Paired),
    /// No such code on that channel (never issued, approved or revoked).
    Unknown,
    /// The code's hour is over; it is removed.
    Expired {
        sender_id: String,
        expired_at: i64,
    },
}

/// Where a tool call that needs confirmation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmStatus {
    Waiting,
    Approved,
    Denied,
    /// No answer in time.
    Timeout,
    /// picoclaw stopped while waiting.
    Interrupted,
}

impl ConfirmStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmStatus::Waiting => "waiting",
            ConfirmStatus::Approved => "approved",
            ConfirmStatus::Denied => "denied",
            ConfirmStatus::Timeout => "timeout",
            ConfirmStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Option<ConfirmStatus> {
        Some(match s {
            "waiting" => ConfirmStatus::Waiting,
            "approved" => ConfirmStatus::Approved,
            "denied" => ConfirmStatus::Denied,
            "timeout" => ConfirmStatus::Timeout,
            "interrupted" => ConfirmStatus::Interrupted,
            _ => return None,
        })
    }
}

/// A question to queue for a tool call.
#[derive(Debug, Clone)]
pub struct ConfirmAsk<'a> {
    pub inbound_id: i64,
    pub call_id: &'a str,
    pub tool: &'a str,
    pub channel: &'a str,
    pub chat_id: &'a str,
    pub reply_to: Option<&'a str>,
    /// The rendered question.
    pub chunks: &'a [String],
}

fn paired_from_row(r: &Row<'_>) -> rusqlite::Result<Paired> {
    Ok(Paired {
        channel: r.get(0)?,
        sender_id: r.get(1)?,
        username: r.get(2)?,
        name: r.get(3)?,
        approved_at: r.get(4)?,
        approved_by: r.get(5)?,
    })
}

fn code_from_row(r: &Row<'_>) -> rusqlite::Result<PairingCode> {
    Ok(PairingCode {
        channel: r.get(0)?,
        code: r.get(1)?,
        sender_id: r.get(2)?,
        username: r.get(3)?,
        name: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

const CODE_COLUMNS: &str = "channel, code, sender_id, username, name, created_at, expires_at";

impl Store {
    /// Whether `sender_id` was approved on `channel`.
    pub fn is_paired(&self, channel: &str, sender_id: &str) -> Result<bool, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT 1 FROM paired WHERE channel = ?1 AND sender_id = ?2")?
                .query_row((channel, sender_id), |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    /// Answers a stranger's message in ONE transaction: drops the
    /// channel's expired codes, issues (or recalls) the sender's code,
    /// queues the reply `reply` renders for the outcome and settles the
    /// event ('answered', or 'ignored' when `reply` gives nothing). A
    /// crash before the commit leaves the event pending and no code; redoing
    /// the event after the commit is impossible (it is settled), and a redo
    /// of an event whose code exists tells that same code.
    pub fn pairing_request(
        &mut self,
        ask: &PairingAsk<'_>,
        reply: impl FnOnce(&PairingIssue) -> Option<Vec<String>>,
    ) -> Result<PairingIssue, StoreError> {
        self.write_tx(|tx| {
            tx.prepare_cached("DELETE FROM pairing_codes WHERE channel = ?1 AND expires_at <= ?2")?
                .execute((ask.channel, ask.now))?;
            let mine: Option<(String, i64, i64, i64)> = tx
                .prepare_cached(
                    "SELECT code, expires_at, told_at, inbound_id FROM pairing_codes
                     WHERE channel = ?1 AND sender_id = ?2",
                )?
                .query_row((ask.channel, &ask.sender.id), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let issue = match mine {
                Some((code, expires_at, told_at, for_event)) => {
                    if for_event == ask.inbound_id || ask.now - told_at >= ask.remind_after_secs {
                        PairingIssue::Again { code, expires_at }
                    } else {
                        PairingIssue::Quiet
                    }
                }
                None => {
                    let pending: i64 = tx
                        .prepare_cached("SELECT count(*) FROM pairing_codes WHERE channel = ?1")?
                        .query_row([ask.channel], |r| r.get(0))?;
                    if usize::try_from(pending).unwrap_or(usize::MAX) >= ask.max_pending {
                        PairingIssue::Full
                    } else {
                        let expires_at = ask.now + ask.ttl_secs;
                        tx.prepare_cached(
                            "INSERT INTO pairing_codes (channel, code, sender_id, username, name,
                                 inbound_id, created_at, expires_at, told_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
                        )?
                        .execute(rusqlite::params![
                            ask.channel,
                            ask.fresh_code,
                            ask.sender.id,
                            ask.sender.username,
                            ask.sender.display,
                            ask.inbound_id,
                            ask.now,
                            expires_at
                        ])?;
                        PairingIssue::Issued {
                            code: ask.fresh_code.to_owned(),
                            expires_at,
                        }
                    }
                }
            };
            if let PairingIssue::Again { code, .. } = &issue {
                tx.prepare_cached(
                    "UPDATE pairing_codes SET told_at = ?3, inbound_id = ?4
                     WHERE channel = ?1 AND code = ?2",
                )?
                .execute((ask.channel, code, ask.now, ask.inbound_id))?;
            }
            let at = now();
            match reply(&issue) {
                Some(chunks) => {
                    let q = Queued {
                        inbound_id: Some(ask.inbound_id),
                        channel: ask.channel,
                        chat_id: ask.chat_id,
                        reply_to: ask.reply_to,
                        chunks: &chunks,
                        buttons: &[],
                    };
                    insert_chunks(tx, &q, at)?;
                    settle(tx, ask.inbound_id, "answered", at)?;
                }
                None => settle(tx, ask.inbound_id, "ignored", at)?,
            }
            Ok(issue)
        })
    }

    /// Approves `code` (as stored: the caller normalises what a person
    /// typed) on `channel`, in one transaction.
    pub fn approve_pairing(
        &mut self,
        channel: &str,
        code: &str,
        now: i64,
        by: &str,
    ) -> Result<Approval, StoreError> {
        self.write_tx(|tx| {
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM pairing_codes WHERE channel = ?1 AND code = ?2"
                ))?
                .query_row((channel, code), code_from_row)
                .optional()?;
            let Some(found) = found else {
                return Ok(Approval::Unknown);
            };
            tx.prepare_cached("DELETE FROM pairing_codes WHERE channel = ?1 AND code = ?2")?
                .execute((channel, code))?;
            if found.expires_at <= now {
                return Ok(Approval::Expired {
                    sender_id: found.sender_id,
                    expired_at: found.expires_at,
                });
            }
            let paired = Paired {
                channel: found.channel,
                sender_id: found.sender_id,
                username: found.username,
                name: found.name,
                approved_at: now,
                approved_by: by.to_owned(),
            };
            tx.prepare_cached(
                "INSERT INTO paired (channel, sender_id, username, name, approved_at, approved_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (channel, sender_id) DO UPDATE SET
                     username = excluded.username, name = excluded.name,
                     approved_at = excluded.approved_at, approved_by = excluded.approved_by",
            )?
            .execute(rusqlite::params![
                paired.channel,
                paired.sender_id,
                paired.username,
                paired.name,
                paired.approved_at,
                paired.approved_by
            ])?;
            Ok(Approval::Approved(paired))
        })
    }

    /// Removes `sender_id`'s approval and any code of theirs on `channel`.
    /// Returns whether there was anything to remove.
    pub fn revoke_pairing(&mut self, channel: &str, sender_id: &str) -> Result<bool, StoreError> {
        self.write_tx(|tx| {
            let a = tx.execute(
                "DELETE FROM paired WHERE channel = ?1 AND sender_id = ?2",
                (channel, sender_id),
            )?;
            let b = tx.execute(
                "DELETE FROM pairing_codes WHERE channel = ?1 AND sender_id = ?2",
                (channel, sender_id),
            )?;
            Ok(a + b > 0)
        })
    }

    /// Codes not yet expired at `now`, oldest first.
    pub fn pairing_codes(&self, now: i64) -> Result<Vec<PairingCode>, StoreError> {
        self.run(|c| {
            c.prepare(&format!(
                "SELECT {CODE_COLUMNS} FROM pairing_codes WHERE expires_at > ?1
                 ORDER BY created_at, channel, code"
            ))?
            .query_map([now], code_from_row)?
            .collect()
        })
    }

    /// Everyone approved, by channel then time.
    pub fn paired(&self) -> Result<Vec<Paired>, StoreError> {
        self.run(|c| {
            c.prepare(
                "SELECT channel, sender_id, username, name, approved_at, approved_by FROM paired
                 ORDER BY channel, approved_at, sender_id",
            )?
            .query_map([], paired_from_row)?
            .collect()
        })
    }

    /// How the confirmation of call `call_id` of event `inbound_id` stands,
    /// if one was asked.
    pub fn confirmation(
        &self,
        inbound_id: i64,
        call_id: &str,
    ) -> Result<Option<(i64, ConfirmStatus)>, StoreError> {
        self.run(|c| {
            let row: Option<(i64, String)> = c
                .prepare_cached(
                    "SELECT id, status FROM confirmations WHERE inbound_id = ?1 AND call_id = ?2",
                )?
                .query_row((inbound_id, call_id), |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            Ok(row.and_then(|(id, s)| Some((id, ConfirmStatus::parse(&s)?))))
        })
    }

    /// Records a question as 'waiting' and queues it, with the buttons
    /// `buttons` makes from the question's id under its last chunk, in one
    /// transaction. Returns the id.
    pub fn ask_confirmation(
        &mut self,
        ask: &ConfirmAsk<'_>,
        buttons: impl FnOnce(i64) -> Vec<Button>,
    ) -> Result<i64, StoreError> {
        let at = now();
        self.write_tx(|tx| {
            tx.prepare_cached(
                "INSERT INTO confirmations (inbound_id, call_id, tool, asked_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((ask.inbound_id, ask.call_id, ask.tool, at))?;
            let id = tx.last_insert_rowid();
            let buttons = buttons(id);
            let q = Queued {
                inbound_id: None,
                channel: ask.channel,
                chat_id: ask.chat_id,
                reply_to: ask.reply_to,
                chunks: ask.chunks,
                buttons: &buttons,
            };
            insert_chunks(tx, &q, at)?;
            Ok(id)
        })
    }

    /// Records the answer (or its absence) to question `id`.
    pub fn decide_confirmation(&self, id: i64, status: ConfirmStatus) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("UPDATE confirmations SET status = ?2, decided_at = ?3 WHERE id = ?1")?
                .execute((id, status.as_str(), now()))
                .map(drop)
        })
    }
}
