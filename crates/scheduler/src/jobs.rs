//! The job source: sleeps until the next due time (or until the tool adds
//! a job), then fires every due job of the channels this runtime serves.
//!
//! Firing stores the job's inbox row (a prompt) or its reply chunks (a
//! fixed message) and advances its due time in ONE transaction
//! ([`picoclaw_store::Store::fire_job`]): a kill -9 before the commit leaves
//! the job due (it fires on the next start), after it leaves it fired. The
//! inbox row's event id `job:{id}:{due}` would also dedup a second attempt.

use std::sync::Arc;

use picoclaw_agent::{Inbox, Source, Task};
use picoclaw_core::{error, info, warn, Inbound, InboundKind, ScheduledTurn, Sender};
use picoclaw_store::{Fire, Job, JobAction, Missed, StoreError};
use tokio::sync::watch;

use crate::spec::Spec;
use crate::Scheduler;

/// A due time later than this when seen counts as missed (picoclaw was
/// down, or the machine asleep), and the job's missed policy applies.
pub(crate) const GRACE_SECS: i64 = 60;
/// After a store error, the next attempt.
const RETRY_SECS: i64 = 5;
/// With no job at all, the longest wait. (The system clock's sleeps end
/// within a minute anyway, which also picks up jobs another process added,
/// e.g. `picoclaw schedule remove` or a second runtime on the same store.)
const IDLE_SECS: i64 = 86_400;
const BATCH: usize = 32;

/// The job source; get it from [`Scheduler::source`].
pub struct Jobs {
    sched: Arc<Scheduler>,
}

impl Jobs {
    pub(crate) fn new(sched: Arc<Scheduler>) -> Jobs {
        Jobs { sched }
    }
}

impl Source for Jobs {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn run(self: Box<Self>, inbox: Inbox) -> Task {
        Box::pin(run(self.sched, inbox))
    }
}

async fn run(sched: Arc<Scheduler>, inbox: Inbox) {
    let channels = inbox.channels();
    sched.set_served(channels.clone());
    let mut shutdown = inbox.shutdown();
    info!("scheduler: serving jobs of {}", channels.join(", "));
    while !*shutdown.borrow() {
        let now = sched.clock.now();
        let wake_at = match fire_due(&sched, &inbox, &channels, now).await {
            Ok(Some(next)) => next,
            Ok(None) => now + IDLE_SECS,
            Err(e) => {
                error!("scheduler: {e}; retrying in {RETRY_SECS} s");
                now + RETRY_SECS
            }
        };
        tokio::select! {
            _ = sched.clock.sleep_until(wake_at) => {}
            _ = sched.added.notified() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    sched.set_served(Vec::new());
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|v| *v).await;
}

/// Fires what is due at `now`; returns the next due time.
async fn fire_due(
    sched: &Scheduler,
    inbox: &Inbox,
    channels: &[&'static str],
    now: i64,
) -> Result<Option<i64>, StoreError> {
    loop {
        let ch = channels.to_vec();
        let due = inbox
            .db()
            .call(move |s| s.due_jobs(&ch, now, BATCH))
            .await?;
        let full = due.len() == BATCH;
        for job in due {
            fire(sched, inbox, job, now).await?;
        }
        if !full {
            break;
        }
    }
    let ch = channels.to_vec();
    inbox.db().call(move |s| s.next_due(&ch)).await
}

/// What became of one due job.
enum Outcome {
    Fired,
    Skipped,
    /// Fired meanwhile elsewhere, or removed.
    Gone,
    /// Unreadable, so removed; why.
    Removed(String),
}

async fn fire(sched: &Scheduler, inbox: &Inbox, job: Job, now: i64) -> Result<(), StoreError> {
    let (id, due) = (job.id, job.job.next_run_at);
    let late = now - due > GRACE_SECS;
    let skip = late && job.job.missed == Missed::Skip;
    let channel = job.job.channel.clone();
    // What to store, built here (rendering is the sink's pure function);
    // the spec is read on the blocking pool, as it may load a zone file.
    let payload = match job.job.action {
        JobAction::Message => Err(inbox
            .render(&channel, &job.job.body)
            .unwrap_or_else(|| vec![job.job.body.clone()])),
        JobAction::Prompt => Ok(turn(
            &job,
            late.then(|| sched.zone()).map(|z| (z.civil(due), z.name())),
        )),
    };
    let (kind, spec, tz) = (
        job.job.kind.clone(),
        job.job.spec.clone(),
        job.job.tz.clone(),
    );
    let outcome = inbox
        .db()
        .call(move |s| {
            let spec = match Spec::from_stored(&kind, &spec, &tz) {
                Ok((spec, warning)) => {
                    if let Some(w) = warning {
                        warn!("scheduler: job {id}: {w}");
                    }
                    spec
                }
                Err(e) => {
                    s.fire_job(id, due, None, Fire::Skip)?;
                    return Ok(Outcome::Removed(e));
                }
            };
            let next = spec.next(due, now);
            let fire = match (&payload, skip) {
                (_, true) => Fire::Skip,
                (Ok(item), false) => Fire::Turn(item),
                (Err(chunks), false) => Fire::Chunks(chunks),
            };
            Ok(match s.fire_job(id, due, next, fire)? {
                false => Outcome::Gone,
                true if skip => Outcome::Skipped,
                true => Outcome::Fired,
            })
        })
        .await?;
    match outcome {
        Outcome::Fired => {
            info!(
                "scheduler: job {id} fired for {channel} chat {} ({})",
                job.job.chat_id,
                job.job.action.as_str()
            );
            inbox.wake(&channel);
        }
        Outcome::Skipped => info!(
            "scheduler: job {id} missed its due time {due} while down; skipped (policy: skip)"
        ),
        Outcome::Gone => {}
        Outcome::Removed(e) => error!("scheduler: job {id} cannot be read ({e}); removed it"),
    }
    Ok(())
}

/// The inbox row of a prompt job: in the job's chat, from its owner.
fn turn(job: &Job, late_since: Option<(crate::Civil, &str)>) -> Inbound {
    let j = &job.job;
    let mut prompt = format!("[scheduled job #{}] {}", job.id, j.body);
    if let Some((when, zone)) = late_since {
        prompt.push_str(&format!(
            "\n(This was due at {when} {zone}; it runs late because picoclaw was not running.)"
        ));
    }
    Inbound {
        channel: j.channel.clone(),
        event_id: format!("job:{}:{}", job.id, j.next_run_at),
        chat_id: j.chat_id.clone(),
        chat_kind: j.chat_kind,
        sender: Sender {
            id: j.owner_id.clone(),
            username: None,
            display: j.owner_name.clone(),
        },
        message_id: None,
        kind: InboundKind::Scheduled(Box::new(ScheduledTurn {
            prompt,
            quiet: None,
        })),
    }
}
