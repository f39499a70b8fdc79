//! One send loop per channel: sends its stored reply chunks in order and
//! marks each sent the moment the network accepts it. A slow or
//! rate-limited channel never holds up another one's replies.
//!
//! The one window that can duplicate is between the network accepting a
//! chunk and our `mark_sent` commit (microseconds); Telegram offers no
//! idempotency key to close it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{error, warn, Backoff, ChannelError, Sink};
use picoclaw_store::OutboxRow;
use tokio::time::Instant;

use crate::poll::{nap, stopped};
use crate::runtime::Shared;

const BATCH: usize = 32;

pub(crate) async fn outbox(sh: Arc<Shared>, sink: Arc<dyn Sink>) {
    let name = sink.name();
    let wake = sh.outbox_wake(name);
    let mut shutdown = sh.shutdown.clone();
    let db = sh.agent.db().clone();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() && *shutdown.borrow() {
            deadline = Some(Instant::now() + sh.opts.shutdown_timeout);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            warn!("{name}: shutdown: unsent replies remain; they are sent on the next start");
            return;
        }
        let rows = match db.call(move |s| s.pending_outbox(name, BATCH)).await {
            Ok(rows) => rows,
            Err(e) => {
                error!("{name}: cannot read the outbox: {e}");
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
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep_until(end) => {}
                }
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = stopped(&mut shutdown) => {}
            }
            continue;
        }
        for row in rows {
            match send(&sh, &sink, &row).await {
                Sent::Done => backoff.reset(),
                Sent::Later(after) => {
                    let d = after.unwrap_or_else(|| backoff.next_delay());
                    match deadline {
                        Some(end) => {
                            let left = end.saturating_duration_since(Instant::now());
                            tokio::time::sleep(d.min(left)).await;
                        }
                        None => {
                            nap(d, &mut shutdown).await;
                        }
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

/// Opens a queued `send_file` file beneath the workspace (it may have
/// changed since the call: checked again) and uploads it.
fn send_file(
    sink: &dyn Sink,
    workspace: &std::path::Path,
    chat: &str,
    file: &picoclaw_core::OutFile,
) -> Result<(), ChannelError> {
    let (data, len, _) =
        picoclaw_tools::place::open_regular(workspace, &file.path).map_err(|why| {
            ChannelError::Rejected {
                status: 0,
                message: why,
            }
        })?;
    let max = sink.caps().max_file_bytes;
    if len > max {
        return Err(ChannelError::Rejected {
            status: 413,
            message: format!(
                "{} is {len} bytes now, over the {max}-byte limit",
                file.path
            ),
        });
    }
    sink.send_file(chat, file, data, len)
}

async fn send(sh: &Shared, sink: &Arc<dyn Sink>, row: &OutboxRow) -> Sent {
    let db = sh.agent.db();
    let id = row.id;
    let (chat, body) = (row.chat_id.clone(), row.body.clone());
    // Only the first chunk quotes the user's message.
    let reply_to = if row.seq == 0 {
        row.reply_to.clone()
    } else {
        None
    };
    // The chunk is marked sent on the same pool thread the moment the
    // network accepts it: no hop back to the event loop in between, so the
    // window in which a kill -9 makes us resend a delivered chunk is the
    // SQLite commit alone.
    let (db2, s2, buttons) = (db.clone(), sink.clone(), row.buttons.clone());
    let (file, workspace) = (row.file.clone(), sh.agent.workspace().to_path_buf());
    let res = tokio::task::spawn_blocking(move || {
        let sent = match &file {
            Some(f) => send_file(&*s2, &workspace, &chat, f),
            None if buttons.is_empty() => s2.send(&chat, &body, reply_to.as_deref()),
            None => s2.send_buttons(&chat, &body, reply_to.as_deref(), &buttons),
        };
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
