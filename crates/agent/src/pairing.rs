//! Pairing: a stranger who writes to the bot directly gets a one-time
//! code instead of an answer (no model call, ever); an owner approves it
//! with `picoclaw pairing approve CHANNEL CODE` on the host or `/pair
//! CODE` in a chat, and from then on the person is a member.
//!
//! The worker answers the stranger's stored message like any other event:
//! issuing the code, queueing the reply and settling the event are one
//! transaction ([`Store::pairing_request`]), so exactly-once holds.

use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{info, warn, Sink};
use picoclaw_store::{InboundRow, InboundStatus, PairingAsk, PairingIssue, Store};

use crate::access::Standing;
use crate::commands::CommandCtx;
use crate::reply::Reply;
use crate::runtime::Shared;

/// Characters of a code.
pub const CODE_LEN: usize = 8;
/// How long a code can be approved.
pub const CODE_TTL: Duration = Duration::from_secs(3600);
/// Codes a channel may have waiting at once; a fourth stranger is told to
/// come back later.
pub const MAX_PENDING: usize = 3;
/// Someone who already has a code hears it again at most this often.
const REMIND_AFTER: Duration = Duration::from_secs(600);
/// No 0/O or 1/I: codes are read aloud and typed on phones.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Unix seconds, as pairing sees them. Debug builds (the ones tests run)
/// add `PICOCLAW_TEST_CLOCK_SKEW_SECS`, so an end-to-end test can age a
/// code past its hour without waiting; release builds have no such hook.
pub fn now() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    #[cfg(debug_assertions)]
    {
        let skew = std::env::var("PICOCLAW_TEST_CLOCK_SKEW_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        real + skew
    }
    #[cfg(not(debug_assertions))]
    real
}

/// A code as stored from what a person typed: upper case, without the
/// spaces and dashes people add.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A fresh random code (40 bits from the kernel's CSPRNG).
fn fresh_code() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; CODE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect())
}

/// What the worker does with an event, by who sent it.
pub(crate) enum Gate {
    /// Answer it; `owner` unlocks privileged commands.
    Go { owner: bool },
    /// Settled here (a pairing reply, or ignored); `false` on a store
    /// error (the event stays pending).
    Done(bool),
}

/// Checks the sender of `row` against the policy and the store; answers a
/// stranger's direct message with a pairing code.
pub(crate) async fn gate(sh: &Shared, row: &InboundRow, sink: &Arc<dyn Sink>) -> Gate {
    let access = sh.agent.access();
    let (a, m) = (access.clone(), row.inbound.clone());
    let standing = match sh.agent.db().call(move |s| a.standing(s, &m)).await {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot check who sent message {}: {e}", row.id);
            return Gate::Done(false);
        }
    };
    match standing {
        Standing::Owner => return Gate::Go { owner: true },
        Standing::Member => return Gate::Go { owner: false },
        Standing::Stranger => {}
    }
    let id = row.id;
    if !access.pairs(&row.inbound) {
        // Screened at ingest; here only when the policy or a revocation
        // changed since.
        let done = sh
            .agent
            .db()
            .call(move |s| s.set_inbound_status(id, InboundStatus::Ignored, None))
            .await;
        return Gate::Done(done.is_ok());
    }
    let code = match fresh_code() {
        Ok(c) => c,
        Err(e) => {
            warn!("cannot make a pairing code (/dev/urandom: {e})");
            return Gate::Done(false);
        }
    };
    let (m, sink2) = (row.inbound.clone(), sink.clone());
    let issued = sh
        .agent
        .db()
        .call(move |s| request(s, id, &m, &code, &*sink2))
        .await;
    match issued {
        Ok(issue) => {
            log_issue(&row.inbound.channel, &row.inbound.sender, &issue);
            sh.wake_outbox(&row.inbound.channel);
            Gate::Done(true)
        }
        Err(e) => {
            warn!("cannot answer the pairing request {id}: {e}");
            Gate::Done(false)
        }
    }
}

fn request(
    s: &mut Store,
    id: i64,
    m: &picoclaw_core::Inbound,
    code: &str,
    sink: &dyn Sink,
) -> Result<PairingIssue, picoclaw_store::StoreError> {
    let ask = PairingAsk {
        channel: &m.channel,
        sender: &m.sender,
        inbound_id: id,
        chat_id: &m.chat_id,
        reply_to: m.message_id.as_deref(),
        fresh_code: code,
        now: now(),
        ttl_secs: CODE_TTL.as_secs() as i64,
        max_pending: MAX_PENDING,
        remind_after_secs: REMIND_AFTER.as_secs() as i64,
    };
    let channel = m.channel.clone();
    s.pairing_request(&ask, |issue| {
        reply_text(&channel, issue).map(|t| sink.render(&t))
    })
}

/// What the stranger is told.
pub(crate) fn reply_text(channel: &str, issue: &PairingIssue) -> Option<String> {
    match issue {
        PairingIssue::Issued { code, .. } | PairingIssue::Again { code, .. } => Some(format!(
            "I don't know you yet, so I can't answer. Your pairing code is **{code}** \
             (valid for {} minutes).\n\nAsk my owner to approve it: on the host with \
             `picoclaw pairing approve {channel} {code}`, or by sending me `/pair {code}`. \
             Then send your message again.",
            CODE_TTL.as_secs() / 60
        )),
        PairingIssue::Full => Some(String::from(
            "I don't know you yet, and too many people are already waiting for approval. \
             Please try again later.",
        )),
        PairingIssue::Quiet => None,
    }
}

/// The owner learns about codes from the log (`picoclaw pairing list` shows
/// them too). Username and name are what the network shows publicly; the
/// message text is never logged.
fn log_issue(channel: &str, sender: &picoclaw_core::Sender, issue: &PairingIssue) {
    let who = match &sender.username {
        Some(u) => format!("user {} (@{u}, {})", sender.id, sender.display),
        None => format!("user {} ({})", sender.id, sender.display),
    };
    match issue {
        PairingIssue::Issued { code, .. } => info!(
            "{channel}: pairing code {code} for {who}; approve with `picoclaw pairing approve \
             {channel} {code}` or `/pair {code}` from an owner's chat"
        ),
        PairingIssue::Again { code, .. } => {
            info!("{channel}: told {who} their pairing code {code} again")
        }
        PairingIssue::Full => warn!(
            "{channel}: {who} asked to pair, but {MAX_PENDING} codes are already waiting \
             (`picoclaw pairing list`)"
        ),
        PairingIssue::Quiet => {}
    }
}

/// `/pair CODE`: an owner approves a code of the channel they write on.
pub(crate) fn pair_command(ctx: &CommandCtx, store: &mut Store) -> Reply {
    if !ctx.owner {
        return Reply::ok("Only an owner can approve pairing codes.");
    }
    let code = normalize(&ctx.args);
    if code.is_empty() {
        return Reply::ok("Usage: /pair CODE (the code the person got from me).");
    }
    let by = format!("{}:{}", ctx.channel, ctx.sender);
    match store.approve_pairing(&ctx.channel, &code, now(), &by) {
        Ok(picoclaw_store::Approval::Approved(p)) => {
            info!(
                "{}: user {} approved by {by} (code {code})",
                p.channel, p.sender_id
            );
            Reply::ok(format!(
                "Approved {} (user {}): they can talk to me now.",
                p.name, p.sender_id
            ))
        }
        Ok(picoclaw_store::Approval::Unknown) => Reply::ok(format!(
            "There is no pending code {code} on {}.",
            ctx.channel
        )),
        Ok(picoclaw_store::Approval::Expired { .. }) => Reply::ok(format!(
            "Code {code} has expired; ask them to message me again for a new one."
        )),
        Err(e) => Reply::failed(format!("Couldn't approve the code: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_unambiguous_characters_and_typing_them_loosely_still_matches() {
        let a = fresh_code().unwrap();
        let b = fresh_code().unwrap();
        assert_eq!(a.len(), CODE_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert!(!a.contains(['0', 'O', '1', 'I']));
        assert_eq!(normalize(" abcd-2345 "), "ABCD2345");
        assert_eq!(normalize("ab cd 23 45"), "ABCD2345");
    }
}
