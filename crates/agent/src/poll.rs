//! The source for a channel that is polled ([`Poller`]): long-poll → store
//! the batch and its cursor in one transaction → only then pass the cursor
//! to the next poll, which is what acknowledges the batch (Telegram's
//! `offset`). A poll that outlives its channel's deadline is abandoned and
//! the channel reconnects: the "shows online, hears nothing" failure.

use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{error, info, warn, Backoff, Batch, ChannelError, LinkState, Poller};
use tokio::sync::watch;

use crate::links::Links;
use crate::source::{Inbox, Source, Task};

/// How long a loop without its own deadline may go quiet before the
/// watchdog calls it wedged (a poll returns well within this).
const DEFAULT_STALL: Duration = Duration::from_secs(300);

/// A [`Poller`] driven as a [`Source`].
pub struct Polled(pub Arc<dyn Poller>);

impl Source for Polled {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn run(self: Box<Self>, inbox: Inbox) -> Task {
        Box::pin(poll_loop(self.0, inbox))
    }
}

/// The watchdog's allowance for a poller: its deadline, twice, plus the
/// longest backoff.
pub(crate) fn stall_limit(p: &dyn Poller) -> Duration {
    p.poll_deadline()
        .map_or(DEFAULT_STALL, |d| d * 2 + Duration::from_secs(60))
}

async fn poll_loop(ch: Arc<dyn Poller>, inbox: Inbox) {
    let name = ch.name();
    let mut shutdown = inbox.shutdown();
    let links = inbox.links();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut cursor = loop {
        match inbox.cursor(name).await {
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
        let batch = match poll_once(&ch, cursor.clone(), &mut shutdown).await {
            Outcome::Batch(b) => b,
            Outcome::Shutdown => return,
            Outcome::Closed => {
                info!("{name}: no more input");
                return;
            }
            Outcome::Stopped(msg) => {
                error!("{name}: channel stopped: {msg}");
                links.set(name, LinkState::Stopped(msg));
                return;
            }
            Outcome::Failed(why, after) => {
                let after = after.unwrap_or_else(|| backoff.next_delay());
                warn!(
                    "{name}: poll failed ({why}); retrying in {} ms",
                    after.as_millis()
                );
                // Before the first receive it is still connecting.
                if links.get(name).is_some_and(|l| l.last_receive.is_some()) {
                    links.set(name, ch.link().unwrap_or(LinkState::Reconnecting));
                }
                if !nap(after, &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        report(links, &*ch);
        if batch.items.is_empty() && batch.cursor.is_none() {
            continue;
        }
        let next = batch.cursor.clone().or(cursor.clone());
        if !store(&inbox, name, batch, &mut shutdown).await {
            return;
        }
        cursor = next;
    }
}

enum Outcome {
    Batch(Batch),
    /// Why, and the server's requested delay if it gave one.
    Failed(String, Option<Duration>),
    Stopped(String),
    Closed,
    Shutdown,
}

/// One poll on the blocking pool, bounded by the channel's deadline.
async fn poll_once(
    ch: &Arc<dyn Poller>,
    cursor: Option<String>,
    shutdown: &mut watch::Receiver<bool>,
) -> Outcome {
    let c2 = ch.clone();
    let job = tokio::task::spawn_blocking(move || c2.poll(cursor.as_deref()));
    let deadline = async {
        match ch.poll_deadline() {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let res = tokio::select! {
        r = job => r,
        _ = deadline => {
            // The call keeps its pool thread until its own timeout; its
            // result is dropped unacknowledged, so nothing is lost.
            let secs = ch.poll_deadline().unwrap_or_default().as_secs();
            ch.reconnect();
            return Outcome::Failed(format!("no answer within {secs} s; reconnecting"), Some(Duration::ZERO));
        }
        _ = stopped(shutdown) => return Outcome::Shutdown,
    };
    match res {
        Ok(Ok(batch)) => Outcome::Batch(batch),
        Ok(Err(ChannelError::Fatal(msg))) => Outcome::Stopped(msg),
        Ok(Err(ChannelError::Closed)) => Outcome::Closed,
        Ok(Err(e)) => {
            let after = match &e {
                ChannelError::Retry { after: Some(a), .. } => Some(*a),
                _ => None,
            };
            Outcome::Failed(e.to_string(), after)
        }
        Err(e) => Outcome::Failed(format!("poll task failed: {e}"), None),
    }
}

/// A completed poll: up, unless the channel knows better (a push channel
/// whose socket is being rebuilt while its queue still answers).
fn report(links: &Links, ch: &dyn Poller) {
    match ch.link() {
        Some(LinkState::Up) | None => links.received(ch.name()),
        Some(state) => links.set(ch.name(), state),
    }
}

/// Stores a batch, retrying until it is stored or shutdown. Returns false
/// on shutdown.
async fn store(
    inbox: &Inbox,
    name: &'static str,
    batch: Batch,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let count = batch.items.len();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match inbox
            .store(name, batch.items.clone(), batch.cursor.clone())
            .await
        {
            Ok(new) => {
                if new > 0 {
                    info!("{name}: stored {new} new event(s) of {count}");
                }
                return true;
            }
            Err(e) => {
                // Not acknowledged, so nothing is lost: the server keeps the
                // events until a poll passes the new cursor.
                error!("{name}: cannot store incoming events, not acknowledging them: {e}");
                if !nap(backoff.next_delay(), shutdown).await {
                    return false;
                }
            }
        }
    }
}

pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // Resolves when the flag is (or becomes) true, or the sender is gone.
    let _ = shutdown.wait_for(|v| *v).await;
}

/// Sleeps `d`; returns false if shutdown came first.
pub(crate) async fn nap(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stopped(shutdown) => false,
    }
}
