//! `picoclaw schedule list|remove`: the host's view of every chat's jobs,
//! straight from the store (the daemon may be running; SQLite's WAL lets
//! both work).

use picoclaw_config::Config;
use picoclaw_store::{Store, StoreOptions};

use crate::cli::ScheduleAction;
use crate::Failure;

pub fn run(config: &Config, action: ScheduleAction) -> Result<(), Failure> {
    let opts = StoreOptions::default();
    let fail = |e: picoclaw_store::StoreError| Failure::Runtime(e.to_string());
    match action {
        ScheduleAction::List => {
            let store = Store::open_read_only(&config.store.dir, &opts)
                .or_else(|_| crate::setup::open_store(config).map_err(|f| f.to_string()))
                .map_err(Failure::Runtime)?;
            let jobs = store.jobs(None).map_err(fail)?;
            if jobs.is_empty() {
                println!("no scheduled jobs");
            }
            for job in &jobs {
                println!(
                    "{}:{}  {}",
                    job.job.channel,
                    job.job.chat_id,
                    picoclaw_scheduler::describe(job)
                );
            }
            Ok(())
        }
        ScheduleAction::Remove(id) => {
            let store = crate::setup::open_store(config)?;
            if store.remove_job(id, None).map_err(fail)? {
                println!("removed job #{id}");
                Ok(())
            } else {
                Err(Failure::Config(format!("no job #{id}")))
            }
        }
    }
}
