//! Where turns come from. A [`Source`] is a task on the runtime's event
//! loop that turns outside events (a chat network's updates, a due job, the
//! heartbeat) into stored inbox rows through its [`Inbox`], and does
//! nothing else: the worker answers them and the outbox sends the replies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use picoclaw_core::{info, Inbound, InboundKind};
use picoclaw_store::StoreError;
use tokio::sync::watch;

use crate::commands;
use crate::db::Db;
use crate::links::Links;
use crate::runtime::Shared;

/// A boxed task future, as sources return it.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An event source, run once on the runtime's event loop until shutdown.
pub trait Source: Send + 'static {
    /// For logs.
    fn name(&self) -> &'static str;

    /// The source's loop. It must return soon after
    /// [`Inbox::shutdown`] turns true.
    fn run(self: Box<Self>, inbox: Inbox) -> Task;
}

/// What a source may do with the runtime: read its cursor, store events,
/// report its link.
#[derive(Clone)]
pub struct Inbox {
    shared: Arc<Shared>,
}

impl Inbox {
    pub(crate) fn new(shared: Arc<Shared>) -> Inbox {
        Inbox { shared }
    }

    pub fn db(&self) -> &Db {
        self.shared.agent.db()
    }

    pub fn links(&self) -> &Links {
        &self.shared.links
    }

    /// Turns true when the runtime is stopping.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shared.shutdown.clone()
    }

    /// Where `channel`'s events resume (stored with the last batch).
    pub async fn cursor(&self, channel: &'static str) -> Result<Option<String>, StoreError> {
        self.db().call(move |s| s.cursor(channel)).await
    }

    /// Stores `items` with the `cursor` that acknowledges them, in one
    /// transaction, and wakes the worker. Returns how many were new (a
    /// redelivered event is stored once). Only after this returns `Ok` may
    /// the source acknowledge the events to their server; on `Err` nothing
    /// was stored.
    ///
    /// Messages nothing will answer (strangers', see `Access::screen`) are
    /// dropped first. What acts at arrival, not in turn order, is acted on
    /// here: an interrupting command (`/stop`) cancels its conversation's
    /// running turn, and the yes or no a running turn's question waits for
    /// goes to that turn (and is not stored).
    pub async fn store(
        &self,
        channel: &'static str,
        items: Vec<Inbound>,
        cursor: Option<String>,
    ) -> Result<usize, StoreError> {
        let sh = self.shared.clone();
        let ids = self
            .db()
            .call(move |s| {
                let access = sh.agent.access();
                let mut items = access.screen(s, items)?;
                items.retain(|m| !sh.running.confirm.take(m, access));
                interrupt(&sh, &items);
                s.ingest(channel, &items, cursor.as_deref())
            })
            .await?;
        if !ids.is_empty() {
            self.shared.wake_worker.notify_one();
        }
        Ok(ids.len())
    }

    /// The channels this runtime sends to: only their events get answered.
    pub fn channels(&self) -> Vec<&'static str> {
        self.shared.sinks.keys().copied().collect()
    }

    /// `markdown` as `channel`'s sink would send it; `None` when no sink of
    /// that name runs here.
    pub fn render(&self, channel: &str, markdown: &str) -> Option<Vec<String>> {
        self.shared.sinks.get(channel).map(|s| s.render(markdown))
    }

    /// After a source wrote inbox rows or reply chunks itself (in its own
    /// transaction, through [`Inbox::db`]): wakes the worker and
    /// `channel`'s outbox.
    pub fn wake(&self, channel: &str) {
        self.shared.wake_worker.notify_one();
        self.shared.wake_outbox(channel);
    }
}

fn interrupt(sh: &Shared, items: &[Inbound]) {
    for item in items {
        let InboundKind::Text(text) = &item.kind else {
            continue;
        };
        if !commands::interrupts(text) {
            continue;
        }
        let session = sh.agent.session_key(item);
        let event = format!("{}:{}", item.channel, item.event_id);
        if sh.running.interrupt(&session, event) {
            info!("{}: {} for the running turn", item.channel, text.trim());
        }
    }
}
