//! `picoclaw [run]`: the daemon. One current-thread tokio runtime owns all
//! agent state; blocking work (HTTP, SQLite, tools) runs on tokio's blocking
//! pool, capped so a board never grows an unbounded number of threads.

use picoclaw_agent::{Db, Links};
use picoclaw_config::Config;
use picoclaw_core::{error, info, warn};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::notify::{watchdog_interval, Notifier};
use crate::{setup, Failure};

/// Long polls (one per channel), a provider call, a tool and SQLite calls
/// can be in flight together; more than this only queues.
const BLOCKING_THREADS: usize = 8;

pub fn run(config: Config) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the event loop: {e}")))?;
    let result = rt.block_on(main_loop(config));
    // A long poll may still be parked on a pool thread; it holds nothing we
    // need, so do not wait the full poll timeout for it.
    rt.shutdown_background();
    result
}

async fn main_loop(config: Config) -> Result<(), Failure> {
    nothing_to_answer(&config)?;
    let store = setup::open_store(&config)?;
    let db = Db::new(store);
    let (mut runtime, sched) = setup::runtime(&config, db.clone())?;
    if setup::channels(&config, &mut runtime) == 0 {
        warn!("no channel is running (none enabled or all failed); idle until stopped");
    }
    setup::sources(&config, &mut runtime, sched.as_ref());
    let links = runtime.links();
    let notifier = Notifier::from_env();

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| Failure::Runtime(e.to_string()))?;

    // Ready means the store is open and the parts are built. Channels may
    // still be waiting for the network (a board at boot): systemd must not
    // kill a service for that, and signals are served meanwhile.
    if let Some(n) = &notifier {
        n.send("READY=1");
    }
    let mut work = tokio::spawn(runtime.run(stop_rx));
    info!("picoclaw {} running", env!("CARGO_PKG_VERSION"));
    let mut watchdog = watchdog_interval().map(tokio::time::interval);
    let mut file_check = tokio::time::interval(DB_FILE_CHECK);
    // The first tick is immediate: a daemon restarted daily still prunes.
    let mut prune = tokio::time::interval(std::time::Duration::from_secs(86_400));
    let mut saved = LinksSaved::default();
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            _ = file_check.tick() => {
                if let Err(msg) = check_db_file(&db, &config).await {
                    error!("{msg}");
                    outcome = Err(Failure::Runtime(msg));
                    break;
                }
                saved.save(&db, &links).await;
            }
            _ = prune.tick() => crate::audit::prune(&db, &config).await,
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => reload(&config),
            _ = tick(&mut watchdog) => {
                // A channel that claims to be up while its loop went quiet
                // is deaf: let systemd restart us rather than sit online.
                if links.healthy() {
                    ping(&notifier);
                } else {
                    warn!("a channel loop is not making progress; not pinging the watchdog");
                }
            }
            _ = &mut work => { warn!("runtime ended unexpectedly"); break; }
        }
    }
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    let _ = stop_tx.send(true);
    // The runtime itself bounds its drain by shutdown_timeout; the extra
    // margin only guards against a bug there.
    let grace = config.agent.shutdown_timeout * 2 + std::time::Duration::from_secs(1);
    if tokio::time::timeout(grace, &mut work).await.is_err() {
        warn!("runtime did not stop within {} s", grace.as_secs());
    }
    saved.save(&db, &links).await;
    finish(&db)?;
    outcome
}

/// Started by hand with no chat channel enabled, the daemon would idle
/// with nothing to answer: say what is missing and what fixes it, and
/// stop. Under a service manager (no terminal) it idles as configured.
fn nothing_to_answer(config: &Config) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if config.telegram.is_some() || config.discord.is_some() || !std::io::stderr().is_terminal() {
        return Ok(());
    }
    Err(Failure::Config(format!(
        "no chat channel is enabled in {}, so the daemon would have nothing to answer.\n  Run `picoclaw onboard` to set up Telegram or Discord, or `picoclaw agent` to chat from this terminal.",
        config.path.display()
    )))
}

/// Each channel's link, saved for `picoclaw doctor` (see `links.rs`).
#[derive(Default)]
struct LinksSaved {
    states: String,
    at: Option<std::time::Instant>,
}

impl LinksSaved {
    async fn save(&mut self, db: &Db, links: &Links) {
        let snapshot = links.snapshot();
        let states: String = snapshot
            .iter()
            .map(|(n, l)| format!("{n}={};", l.state.as_str()))
            .collect();
        let fresh = self
            .at
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(60));
        if states == self.states && fresh {
            return;
        }
        let text = crate::links::encode(&snapshot, std::time::SystemTime::now());
        if db
            .call(move |s| s.set_meta(crate::links::META_KEY, &text))
            .await
            .is_ok()
        {
            self.states = states;
            self.at = Some(std::time::Instant::now());
        }
    }
}

/// How often the database file is checked for deletion or replacement.
const DB_FILE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Notices the database file being deleted (an over-eager cleanup, `rm -r`
/// of the state dir) or replaced under the running daemon. A deleted file is
/// written back from the still-open connection, so nothing is lost; a file
/// replaced by another one is not ours to touch, so the daemon stops.
async fn check_db_file(db: &Db, config: &Config) -> Result<(), String> {
    use picoclaw_store::FileState;
    let state = db
        .call(|s| Ok(s.file_state()))
        .await
        .map_err(|e| e.to_string())?;
    match state {
        FileState::Same => Ok(()),
        FileState::Replaced => Err(format!(
            "database {} was replaced by another file while picoclaw was running; stopping so nothing is written to the wrong database (restart to use the new file)",
            config.store.dir.join(picoclaw_store::DB_FILE).display()
        )),
        FileState::Missing => {
            let path = config.store.dir.join(picoclaw_store::DB_FILE);
            error!("database {} was deleted while picoclaw was running; restoring it from the open connection", path.display());
            db.call(|s| s.restore_file())
                .await
                .map_err(|e| format!("could not restore the deleted database: {e}"))?;
            let store = setup::open_store(config).map_err(|e| format!("could not reopen the restored database: {e}"))?;
            db.replace(store);
            info!("database {} restored; nothing was lost", path.display());
            Ok(())
        }
    }
}

/// The next watchdog tick, or never when the watchdog is off.
async fn tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog.as_mut() {
        Some(w) => {
            w.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn ping(notifier: &Option<Notifier>) {
    if let Some(n) = notifier {
        n.send("WATCHDOG=1");
    }
}

fn finish(db: &Db) -> Result<(), Failure> {
    if let Err(e) = db.blocking(|s| s.checkpoint()) {
        warn!("final WAL checkpoint failed: {e}");
    }
    info!("stopped");
    Ok(())
}

/// SIGHUP: re-read and validate the config. Only `log.level` is applied
/// live: swapping channels, providers or the sandbox under a running turn
/// is how exactly-once guarantees get lost, so those need a restart.
fn reload(current: &Config) {
    match picoclaw_config::load(Some(&current.path)) {
        Ok(new) => {
            let level = std::env::var("PICOCLAW_LOG")
                .ok()
                .and_then(|l| picoclaw_core::log::Level::parse(&l))
                .unwrap_or(new.log.level);
            use picoclaw_core::log;
            // Confirm the reload when info lines show at the old or the new
            // level: raising the level to warn must not hide its own proof.
            let was = log::enabled(log::Level::Info);
            log::set_level(level);
            if was || log::enabled(log::Level::Info) {
                log::write(
                    log::Level::Info,
                    module_path!(),
                    format_args!("SIGHUP: config re-read; log.level = {} applied; other changes take effect after a restart", level.as_str()),
                );
            }
        }
        Err(e) => error!("SIGHUP: config not reloaded: {e}"),
    }
}
