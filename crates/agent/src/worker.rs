//! The one worker: answers stored events in order, one turn at a time.
//! Each step of a turn is persisted by the agent; the reply is stored as
//! outbox chunks in the same transaction that settles the event, so a
//! kill -9 anywhere resumes the turn or resends the unsent chunks.

use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{error, info, warn, Backoff, InboundKind, Sink};
use picoclaw_store::{InboundRow, InboundStatus, StoreError};

use crate::budget::{self, Verdict};
use crate::commands::{self, CommandCtx};
use crate::confirm::Asker;
use crate::pairing::{self, Gate};
use crate::poll::{nap, stopped};
use crate::reply::Reply;
use crate::runtime::Shared;

/// How often "typing…" is refreshed; Telegram shows it for about 5 s.
const TYPING_EVERY: Duration = Duration::from_secs(4);
/// A turn answered within this time needs no indicator: skipping it saves
/// an HTTP call per message, and a model call is rarely this quick.
const TYPING_AFTER: Duration = Duration::from_millis(300);
const BATCH: usize = 32;

pub(crate) async fn worker(sh: Arc<Shared>) {
    let mut shutdown = sh.shutdown.clone();
    let db = sh.agent.db().clone();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let names: Vec<&'static str> = sh.sinks.keys().copied().collect();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let n = names.clone();
        let rows = match db.call(move |s| s.pending_inbound_for(&n, BATCH)).await {
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
            let Some(ok) = done else {
                finish_on_shutdown(&sh, work).await;
                return;
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

/// Lets the running turn finish within the shutdown timeout. Dropping it
/// after that is safe: every finished step is committed and the event stays
/// 'working', so the next start resumes it.
async fn finish_on_shutdown(sh: &Shared, work: std::pin::Pin<Box<impl std::future::Future>>) {
    info!(
        "shutting down: letting the running turn finish (up to {} s)",
        sh.opts.shutdown_timeout.as_secs()
    );
    if tokio::time::timeout(sh.opts.shutdown_timeout, work)
        .await
        .is_err()
    {
        warn!("shutdown: turn not finished in time; it will resume on the next start");
    }
}

/// Answers one event and queues the reply. Returns false on a store error
/// (the event stays pending and is retried).
async fn answer(sh: &Shared, row: InboundRow) -> bool {
    let db = sh.agent.db();
    let Some(sink) = sh.sinks.get(row.inbound.channel.as_str()).cloned() else {
        return true;
    };
    let id = row.id;
    let event = format!("{}:{}", row.inbound.channel, row.inbound.event_id);
    if sh.running.take_consumed(&event) {
        // This /stop cancelled a turn, which answers for both.
        return db
            .call(move |s| s.set_inbound_status(id, InboundStatus::Ignored, None))
            .await
            .is_ok();
    }
    let owner = match pairing::gate(sh, &row, &sink).await {
        Gate::Go { owner } => owner,
        Gate::Done(ok) => return ok,
    };
    let reply = match command(sh, &row, &*sink, owner) {
        Some((cmd, ctx)) => db
            .call(move |s| Ok(cmd.run(&ctx, s)))
            .await
            .unwrap_or_else(|e| Reply::failed(format!("Couldn't run that command: {e}"))),
        None => match within_budget(sh, &row, &*sink).await {
            Ok(true) => turn(sh, &row, &sink).await,
            // Deferred to tomorrow; the event stays pending.
            Ok(false) => return true,
            Err(e) => {
                error!("cannot check the token budget for message {id}: {e}");
                return false;
            }
        },
    };
    queue_reply(sh, &row, &*sink, reply).await
}

/// Whether a model turn may run now. When a daily budget is spent, the
/// event is deferred to the next day and the chat told once, in one
/// transaction.
async fn within_budget(sh: &Shared, row: &InboundRow, sink: &dyn Sink) -> Result<bool, StoreError> {
    let budgets = sh.agent.budgets();
    if budgets.unlimited() {
        return Ok(true);
    }
    let (id, channel, chat) = (
        row.id,
        row.inbound.channel.clone(),
        row.inbound.chat_id.clone(),
    );
    let reply_to = row.inbound.message_id.clone();
    let render = |t: &str| sink.render(t);
    let now = unix_now();
    let verdict = sh
        .agent
        .db()
        .call({
            let (channel, chat) = (channel.clone(), chat.clone());
            move |s| budget::check(s, budgets, &channel, &chat, now)
        })
        .await?;
    let Verdict::Wait { until, notice } = verdict else {
        return Ok(true);
    };
    let chunks = notice.as_deref().map(render);
    if notice.is_some() {
        info!("{channel}:{chat}: daily token budget spent; deferring until {until}");
    }
    sh.agent
        .db()
        .call(move |s| {
            if let Some(chunks) = chunks {
                s.enqueue_reply(None, &channel, &chat, reply_to.as_deref(), &chunks)?;
            }
            s.defer_inbound(id, until)
        })
        .await?;
    sh.wake_outbox(&row.inbound.channel);
    Ok(false)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The command this event is, with its context.
fn command(
    sh: &Shared,
    row: &InboundRow,
    sink: &dyn Sink,
    owner: bool,
) -> Option<(&'static commands::Command, CommandCtx)> {
    let InboundKind::Text(text) = &row.inbound.kind else {
        return None;
    };
    let (cmd, args) = commands::find(text)?;
    let ctx = CommandCtx {
        session: sh.agent.session_key(&row.inbound),
        args,
        channel: row.inbound.channel.clone(),
        sender: row.inbound.sender.id.clone(),
        owner,
        chat: format!("{}:{}", row.inbound.channel, row.inbound.chat_id),
        budgets: sh.agent.budgets(),
        caps: sink.caps(),
        model: sh.agent.model(),
        context_window: sh.agent.context_window(),
        uptime: sh.started.elapsed(),
        links: sh.links.snapshot(),
    };
    Some((cmd, ctx))
}

async fn turn(sh: &Shared, row: &InboundRow, sink: &Arc<dyn Sink>) -> Reply {
    let cancel = sh.running.begin(sh.agent.session_key(&row.inbound));
    // A turn that may end quietly must not show "typing…" either.
    let may_be_quiet = matches!(&row.inbound.kind, InboundKind::Scheduled(s) if s.quiet.is_some());
    let typing = (sink.caps().typing && !may_be_quiet)
        .then(|| tokio::spawn(typing_loop(sink.clone(), row.inbound.chat_id.clone())));
    let ask = Asker {
        sink: &**sink,
        wake: sh.outbox_wake(&row.inbound.channel),
        pending: &sh.running.confirm,
        timeout: sh.agent.access().confirm_timeout,
    };
    let reply = sh.agent.answer(row, sink, &cancel, Some(&ask)).await;
    if let Some(t) = typing {
        t.abort();
    }
    sh.running.end();
    reply
}

/// Stores the reply's chunks and settles the event in one transaction.
async fn queue_reply(sh: &Shared, row: &InboundRow, sink: &dyn Sink, reply: Reply) -> bool {
    let id = row.id;
    let chunks = if is_quiet(&row.inbound.kind, &reply) {
        info!("message {id}: reply is the quiet token; not sent");
        Vec::new()
    } else {
        sink.render(&reply.text)
    };
    let (channel, chat, reply_to) = (
        row.inbound.channel.clone(),
        row.inbound.chat_id.clone(),
        row.inbound.message_id.clone(),
    );
    let failed = reply.failed.then_some(reply.text);
    let stored = sh
        .agent
        .db()
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
            sh.wake_outbox(&row.inbound.channel);
            true
        }
        Err(e) => {
            error!("cannot store the reply to message {id}: {e}");
            false
        }
    }
}

/// A scheduled turn can name a reply that means "nothing to report" (the
/// heartbeat's `HEARTBEAT_OK`): it stays in history but is not sent.
/// A compaction notice in front does not make it worth sending.
fn is_quiet(kind: &InboundKind, reply: &Reply) -> bool {
    let text = reply.text.trim_start();
    let text = text.strip_prefix(crate::compact::NOTICE).unwrap_or(text);
    match kind {
        InboundKind::Scheduled(s) => s.quiet.as_deref() == Some(text.trim()) && !reply.failed,
        _ => false,
    }
}

async fn typing_loop(sink: Arc<dyn Sink>, chat: String) {
    tokio::time::sleep(TYPING_AFTER).await;
    loop {
        let (s, id) = (sink.clone(), chat.clone());
        let _ = tokio::task::spawn_blocking(move || s.typing(&id)).await;
        tokio::time::sleep(TYPING_EVERY).await;
    }
}
