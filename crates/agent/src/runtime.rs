//! Drives channels exactly once.
//!
//! * poll loop (one per channel): long-poll → store the batch and its cursor
//!   in one transaction → only then pass the cursor to the next poll (which
//!   is what acknowledges the batch to Telegram).
//! * worker: answers stored events in order; each step of a turn is
//!   persisted, and the reply is stored as outbox chunks in the same
//!   transaction that marks the event answered.
//! * outbox: sends stored chunks in order and marks each sent.
//!
//! A kill -9 anywhere re-fetches what was not stored, resumes what was not
//! answered and resends what was not marked sent. The one window that can
//! duplicate is between Telegram accepting a chunk and our `mark_sent`
//! commit (microseconds); Telegram offers no idempotency key to close it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_core::{error, info, warn, Backoff, Cancel, Channel, ChannelError, InboundKind};
use picoclaw_store::{InboundRow, InboundStatus, OutboxRow};
use tokio::sync::{watch, Notify};

use crate::commands::command_of;
use crate::turn::Agent;

/// How often "typing…" is refreshed; Telegram shows it for about 5 s.
const TYPING_EVERY: Duration = Duration::from_secs(4);
const TYPING_AFTER: Duration = Duration::from_millis(300);
const BATCH: usize = 32;

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// On shutdown, how long a running turn and unsent replies may take.
    pub shutdown_timeout: Duration,
}

struct Shared {
    agent: Agent,
    channels: HashMap<&'static str, Arc<dyn Channel>>,
    opts: RuntimeOptions,
    wake_worker: Notify,
    wake_outbox: Notify,
    /// The turn being answered: session key and its cancel flag.
    current: Mutex<Option<(String, Cancel)>>,
    /// `/stop` events (channel:event_id) that cancelled a running turn; the
    /// cancelled turn answers "Stopped.", so these get no reply of their own.
    stops: Mutex<HashSet<String>>,
    /// Set when the worker has returned: on shutdown the outbox keeps
    /// waiting for the reply of a turn that is allowed to finish until then.
    worker_done: AtomicBool,
}

pub struct Runtime {
    shared: Arc<Shared>,
}

impl Runtime {
    pub fn new(agent: Agent, channels: Vec<Arc<dyn Channel>>, opts: RuntimeOptions) -> Runtime {
        let channels = channels.into_iter().map(|c| (c.name(), c)).collect();
        Runtime {
            shared: Arc::new(Shared {
                agent,
                channels,
                opts,
                wake_worker: Notify::new(),
                wake_outbox: Notify::new(),
                current: Mutex::new(None),
                stops: Mutex::new(HashSet::new()),
                worker_done: AtomicBool::new(false),
            }),
        }
    }

    pub fn agent(&self) -> &Agent {
        &self.shared.agent
    }

    /// Runs until `shutdown` turns true, then finishes (or checkpoints) the
    /// running turn and flushes replies within the shutdown timeout.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut tasks = Vec::new();
        for ch in self.shared.channels.values() {
            tasks.push(tokio::spawn(poll_loop(
                self.shared.clone(),
                ch.clone(),
                shutdown.clone(),
            )));
        }
        let sh = self.shared.clone();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            worker(sh.clone(), stop).await;
            sh.worker_done.store(true, Ordering::SeqCst);
            sh.wake_outbox.notify_one();
        }));
        tasks.push(tokio::spawn(outbox(self.shared.clone(), shutdown.clone())));
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // Resolves when the flag is (or becomes) true, or the sender is gone.
    let _ = shutdown.wait_for(|v| *v).await;
}

/// Sleeps `d`; returns false if shutdown came first.
async fn nap(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stopped(shutdown) => false,
    }
}

async fn poll_loop(sh: Arc<Shared>, ch: Arc<dyn Channel>, mut shutdown: watch::Receiver<bool>) {
    let name = ch.name();
    let db = sh.agent.db().clone();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut cursor = loop {
        match db.call(move |s| s.cursor(name)).await {
            Ok(c) => break c,
            Err(e) => {
                error!("{name}: cannot read the channel cursor: {e}");
                if !nap(backoff.next_delay(), &mut shutdown).await {
                    return;
                }
            }
        }
    };
    backoff.reset();
    info!("{name}: polling");
    while !*shutdown.borrow() {
        let (c2, cur) = (ch.clone(), cursor.clone());
        let job = tokio::task::spawn_blocking(move || c2.poll(cur.as_deref()));
        let res = tokio::select! {
            r = job => r,
            _ = stopped(&mut shutdown) => return,
        };
        let batch = match res {
            Ok(Ok(batch)) => batch,
            Ok(Err(ChannelError::Fatal(msg))) => {
                error!("{name}: channel stopped: {msg}");
                return;
            }
            Ok(Err(e)) => {
                let after = match &e {
                    ChannelError::Retry { after: Some(a), .. } => *a,
                    _ => backoff.next_delay(),
                };
                warn!(
                    "{name}: poll failed ({e}); retrying in {} ms",
                    after.as_millis()
                );
                if !nap(after, &mut shutdown).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                error!("{name}: poll task failed: {e}");
                if !nap(backoff.next_delay(), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        if batch.items.is_empty() && batch.cursor.is_none() {
            continue;
        }
        note_stops(&sh, &batch.items);
        let next = batch.cursor.clone().or(cursor.clone());
        let count = batch.items.len();
        let mut store_backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let (items, c) = (batch.items.clone(), batch.cursor.clone());
            match db.call(move |s| s.ingest(name, &items, c.as_deref())).await {
                Ok(ids) => {
                    if !ids.is_empty() {
                        info!("{name}: stored {} new event(s) of {count}", ids.len());
                    }
                    break;
                }
                Err(e) => {
                    // Not acknowledged, so nothing is lost: the server keeps
                    // the updates until a poll passes the new cursor.
                    error!("{name}: cannot store incoming events, not acknowledging them: {e}");
                    if !nap(store_backoff.next_delay(), &mut shutdown).await {
                        return;
                    }
                }
            }
        }
        cursor = next;
        sh.wake_worker.notify_one();
    }
}

/// Cancels the running turn when a `/stop` for its conversation arrives.
fn note_stops(sh: &Shared, items: &[picoclaw_core::Inbound]) {
    for item in items {
        let InboundKind::Text(text) = &item.kind else {
            continue;
        };
        if command_of(text) != Some("/stop") {
            continue;
        }
        let key = sh.agent.session_key(item);
        let current = lock(&sh.current);
        if let Some((running, cancel)) = current.as_ref() {
            if *running == key {
                info!("{}: /stop for the running turn", item.channel);
                cancel.cancel();
                lock(&sh.stops).insert(format!("{}:{}", item.channel, item.event_id));
            }
        }
    }
}

async fn worker(sh: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let db = sh.agent.db().clone();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        if *shutdown.borrow() {
            return;
        }
        let names: Vec<&'static str> = sh.channels.keys().copied().collect();
        let rows = match db.call(move |s| s.pending_inbound_for(&names, BATCH)).await {
            Ok(rows) => rows,
            Err(e) => {
                error!("cannot read pending messages: {e}");
                if !nap(backoff.next_delay(), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        if rows.is_empty() {
            tokio::select! {
                _ = sh.wake_worker.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = stopped(&mut shutdown) => return,
            }
            continue;
        }
        for row in rows {
            let mut work = Box::pin(answer(&sh, row));
            let done = tokio::select! {
                r = &mut work => Some(r),
                _ = stopped(&mut shutdown) => None,
            };
            let ok = match done {
                Some(ok) => ok,
                None => {
                    info!(
                        "shutting down: letting the running turn finish (up to {} s)",
                        sh.opts.shutdown_timeout.as_secs()
                    );
                    match tokio::time::timeout(sh.opts.shutdown_timeout, &mut work).await {
                        Ok(_) => {}
                        // Dropping the turn here is safe: every finished
                        // step is committed and the event stays 'working',
                        // so the next start resumes it.
                        Err(_) => warn!(
                            "shutdown: turn not finished in time; it will resume on the next start"
                        ),
                    }
                    return;
                }
            };
            if !ok {
                if !nap(backoff.next_delay(), &mut shutdown).await {
                    return;
                }
                break;
            }
            backoff.reset();
        }
    }
}

/// Answers one event and queues the reply. Returns false on a store error
/// (the event stays pending and is retried).
async fn answer(sh: &Shared, row: InboundRow) -> bool {
    let db = sh.agent.db();
    let Some(ch) = sh.channels.get(row.inbound.channel.as_str()).cloned() else {
        return true;
    };
    let id = row.id;
    let stop_key = format!("{}:{}", row.inbound.channel, row.inbound.event_id);
    if lock(&sh.stops).remove(&stop_key) {
        // This /stop cancelled a turn, which answers for both.
        return db
            .call(move |s| s.set_inbound_status(id, InboundStatus::Ignored, None))
            .await
            .is_ok();
    }
    let is_stop =
        matches!(&row.inbound.kind, InboundKind::Text(t) if command_of(t) == Some("/stop"));
    if row.status == InboundStatus::Pending {
        if let Err(e) = db
            .call(move |s| s.set_inbound_status(id, InboundStatus::Working, None))
            .await
        {
            error!("cannot mark message {id} as in progress: {e}");
            return false;
        }
    }
    let reply = if is_stop {
        crate::turn::Reply {
            text: String::from("Nothing is running."),
            failed: false,
        }
    } else {
        let cancel = Cancel::new();
        *lock(&sh.current) = Some((sh.agent.session_key(&row.inbound), cancel.clone()));
        let typing = tokio::spawn(typing_loop(ch.clone(), row.inbound.chat_id.clone()));
        let reply = sh.agent.handle(&row, &cancel).await;
        typing.abort();
        *lock(&sh.current) = None;
        reply
    };
    let chunks = ch.render(&reply.text);
    let (channel, chat, reply_to) = (
        row.inbound.channel.clone(),
        row.inbound.chat_id.clone(),
        row.inbound.message_id.clone(),
    );
    let failed = reply.failed.then(|| reply.text.clone());
    let stored = db
        .call(move |s| {
            s.enqueue_reply(Some(id), &channel, &chat, reply_to.as_deref(), &chunks)?;
            if let Some(why) = failed {
                s.set_inbound_status(id, InboundStatus::Failed, Some(&why))?;
            }
            Ok(())
        })
        .await;
    match stored {
        Ok(()) => {
            sh.wake_outbox.notify_one();
            true
        }
        Err(e) => {
            error!("cannot store the reply to message {id}: {e}");
            false
        }
    }
}

async fn typing_loop(ch: Arc<dyn Channel>, chat: String) {
    // A turn answered within this time needs no indicator: skipping it saves
    // an HTTP call per message, and a model call is rarely this quick.
    tokio::time::sleep(TYPING_AFTER).await;
    loop {
        let (c, id) = (ch.clone(), chat.clone());
        let _ = tokio::task::spawn_blocking(move || c.typing(&id)).await;
        tokio::time::sleep(TYPING_EVERY).await;
    }
}

async fn outbox(sh: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let db = sh.agent.db().clone();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        if deadline.is_none() && *shutdown.borrow() {
            deadline = Some(tokio::time::Instant::now() + sh.opts.shutdown_timeout);
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            warn!("shutdown: unsent replies remain; they are sent on the next start");
            return;
        }
        let rows = match db.call(|s| s.pending_outbox(BATCH)).await {
            Ok(rows) => rows,
            Err(e) => {
                error!("cannot read the outbox: {e}");
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        if rows.is_empty() {
            if let Some(end) = deadline {
                if sh.worker_done.load(Ordering::SeqCst) {
                    return;
                }
                // A turn may still be finishing; its reply goes out before
                // exit if it comes within the deadline.
                tokio::select! {
                    _ = sh.wake_outbox.notified() => {}
                    _ = tokio::time::sleep_until(end) => {}
                }
                continue;
            }
            tokio::select! {
                _ = sh.wake_outbox.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = stopped(&mut shutdown) => {}
            }
            continue;
        }
        for row in rows {
            match send(&sh, &row).await {
                Sent::Done => backoff.reset(),
                Sent::Later(after) => {
                    let d = after.unwrap_or_else(|| backoff.next_delay());
                    let d = match deadline {
                        Some(end) => {
                            d.min(end.saturating_duration_since(tokio::time::Instant::now()))
                        }
                        None => d,
                    };
                    if deadline.is_some() {
                        tokio::time::sleep(d).await;
                    } else {
                        nap(d, &mut shutdown).await;
                    }
                    // Retry from the same chunk so a reply stays in order.
                    break;
                }
            }
        }
    }
}

enum Sent {
    Done,
    Later(Option<Duration>),
}

async fn send(sh: &Shared, row: &OutboxRow) -> Sent {
    let db = sh.agent.db();
    let id = row.id;
    let Some(ch) = sh.channels.get(row.channel.as_str()).cloned() else {
        let _ = db
            .call(move |s| s.mark_send_failed(id, "channel not enabled"))
            .await;
        return Sent::Done;
    };
    let (chat, body) = (row.chat_id.clone(), row.body.clone());
    // Only the first chunk quotes the user's message.
    let reply_to = if row.seq == 0 {
        row.reply_to.clone()
    } else {
        None
    };
    // The chunk is marked sent on the same pool thread the moment Telegram
    // accepts it: no hop back to the event loop in between, so the window in
    // which a kill -9 makes us resend an already delivered chunk is the
    // SQLite commit alone. (Telegram has no idempotency key to close it.)
    let db2 = db.clone();
    let res = tokio::task::spawn_blocking(move || {
        let sent = ch.send(&chat, &body, reply_to.as_deref());
        let marked = sent.is_ok().then(|| db2.blocking(|s| s.mark_sent(id)));
        (sent, marked)
    })
    .await
    .map(|(sent, marked)| {
        if let Some(Err(e)) = marked {
            error!("reply chunk {id} was sent but could not be marked sent: {e}");
        }
        sent
    });
    match res {
        Ok(Ok(())) => Sent::Done,
        Ok(Err(ChannelError::Rejected { status, message })) => {
            warn!(
                "{}: chat {} refused reply chunk {id}: HTTP {status}: {message}",
                row.channel, row.chat_id
            );
            let why = format!("HTTP {status}: {message}");
            let _ = db.call(move |s| s.mark_send_failed(id, &why)).await;
            Sent::Done
        }
        Ok(Err(e)) => {
            warn!(
                "{}: sending reply chunk {id} failed ({e}); will retry",
                row.channel
            );
            let _ = db.call(move |s| s.bump_attempt(id)).await;
            match e {
                ChannelError::Retry { after, .. } => Sent::Later(after),
                _ => Sent::Later(Some(Duration::from_secs(30))),
            }
        }
        Err(e) => {
            error!("send task failed: {e}");
            Sent::Later(None)
        }
    }
}
