//! The runtime: any number of event sources and channel sinks on the one
//! current-thread event loop. Sources only store inbox rows; one worker
//! answers them in order; one outbox loop per channel sends the replies.
//!
//! A kill -9 anywhere re-fetches what was not stored, resumes what was not
//! answered and resends what was not marked sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picoclaw_core::{Poller, Sink};
use tokio::sync::{watch, Notify};

use crate::links::Links;
use crate::poll::{stall_limit, Polled};
use crate::running::Running;
use crate::source::{Inbox, Source};
use crate::turn::Agent;

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// On shutdown, how long a running turn and unsent replies may take.
    pub shutdown_timeout: Duration,
}

/// State shared by the runtime's tasks.
pub(crate) struct Shared {
    pub agent: Agent,
    pub sinks: HashMap<&'static str, Arc<dyn Sink>>,
    pub opts: RuntimeOptions,
    pub links: Arc<Links>,
    pub running: Running,
    pub wake_worker: Notify,
    outbox_wake: HashMap<&'static str, Arc<Notify>>,
    /// Set when the worker has returned: on shutdown an outbox keeps
    /// waiting for the reply of a turn that is allowed to finish until then.
    pub worker_done: AtomicBool,
    pub shutdown: watch::Receiver<bool>,
    pub started: Instant,
}

impl Shared {
    pub fn outbox_wake(&self, channel: &str) -> Arc<Notify> {
        self.outbox_wake
            .get(channel)
            .cloned()
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }

    pub fn wake_outbox(&self, channel: &str) {
        if let Some(n) = self.outbox_wake.get(channel) {
            n.notify_one();
        }
    }
}

/// Sources and sinks around one [`Agent`]. Register parts, then
/// [`Runtime::run`].
pub struct Runtime {
    agent: Agent,
    opts: RuntimeOptions,
    sources: Vec<Box<dyn Source>>,
    sinks: HashMap<&'static str, Arc<dyn Sink>>,
    links: Arc<Links>,
}

impl Runtime {
    pub fn new(agent: Agent, opts: RuntimeOptions) -> Runtime {
        Runtime {
            agent,
            opts,
            sources: Vec::new(),
            sinks: HashMap::new(),
            links: Arc::new(Links::default()),
        }
    }

    /// A chat network: its poller as a source, its sink for replies.
    pub fn channel<C: Poller + Sink + 'static>(&mut self, channel: Arc<C>) -> &mut Runtime {
        self.links
            .register(Poller::name(&*channel), stall_limit(&*channel));
        self.sources.push(Box::new(Polled(channel.clone())));
        self.sink(channel)
    }

    /// An event source that is not a chat network (scheduled jobs, the
    /// heartbeat).
    pub fn source(&mut self, source: impl Source) -> &mut Runtime {
        self.sources.push(Box::new(source));
        self
    }

    /// Where replies for `sink.name()` go. Events of channels without a
    /// sink stay stored until a runtime with that sink answers them.
    pub fn sink(&mut self, sink: Arc<dyn Sink>) -> &mut Runtime {
        self.agent.note_caps(sink.name(), sink.caps());
        self.sinks.insert(sink.name(), sink);
        self
    }

    /// Every channel's connection state (for the watchdog and `doctor`).
    pub fn links(&self) -> Arc<Links> {
        self.links.clone()
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Runs until `shutdown` turns true, then finishes (or checkpoints) the
    /// running turn and flushes replies within the shutdown timeout.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let outbox_wake = self
            .sinks
            .keys()
            .map(|k| (*k, Arc::new(Notify::new())))
            .collect();
        let sinks: Vec<Arc<dyn Sink>> = self.sinks.values().cloned().collect();
        let shared = Arc::new(Shared {
            agent: self.agent,
            sinks: self.sinks,
            opts: self.opts,
            links: self.links,
            running: Running::default(),
            wake_worker: Notify::new(),
            outbox_wake,
            worker_done: AtomicBool::new(false),
            shutdown,
            started: Instant::now(),
        });
        let mut tasks = Vec::new();
        for source in self.sources {
            tasks.push(tokio::spawn(source.run(Inbox::new(shared.clone()))));
        }
        let sh = shared.clone();
        tasks.push(tokio::spawn(async move {
            crate::worker::worker(sh.clone()).await;
            sh.worker_done.store(true, Ordering::SeqCst);
            for sink in sh.sinks.keys() {
                sh.wake_outbox(sink);
            }
        }));
        for sink in sinks {
            tasks.push(tokio::spawn(crate::outbox::outbox(shared.clone(), sink)));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}
