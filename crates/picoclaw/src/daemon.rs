//! `picoclaw [run]`: the daemon. One current-thread tokio runtime owns all
//! agent state; blocking work (HTTP, SQLite, tools) runs on tokio's blocking
//! pool, capped so a board never grows an unbounded number of threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use picoclaw_agent::{Db, Runtime, RuntimeOptions};
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
    let store = setup::open_store(&config)?;
    let db = Db::new(store);
    let agent = setup::agent(&config, db.clone())?;
    let notifier = Notifier::from_env();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopping = Arc::new(AtomicBool::new(false));
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| Failure::Runtime(e.to_string()))?;

    // Ready means the store is open and the agent built. Channels may still
    // be waiting for the network (a board at boot): systemd must not kill a
    // service for that, and signals are served meanwhile.
    if let Some(n) = &notifier {
        n.send("READY=1");
    }
    info!("picoclaw {} ready", env!("CARGO_PKG_VERSION"));
    let cfg = config.clone();
    let flag = stopping.clone();
    let mut connect = tokio::task::spawn_blocking(move || {
        setup::connect_channels(&cfg, &|| flag.load(Ordering::SeqCst))
    });
    let mut watchdog = watchdog_interval().map(tokio::time::interval);
    let channels = loop {
        tokio::select! {
            res = &mut connect => break res.map_err(|e| Failure::Runtime(e.to_string()))?,
            _ = term.recv() => stopping.store(true, Ordering::SeqCst),
            _ = int.recv() => stopping.store(true, Ordering::SeqCst),
            _ = tick(&mut watchdog) => ping(&notifier),
        }
    };
    if stopping.load(Ordering::SeqCst) {
        if let Some(n) = &notifier {
            n.send("STOPPING=1");
        }
        info!("stopped before channels were connected");
        return finish(&db);
    }
    if channels.is_empty() {
        warn!("no channel is running (none enabled or all failed); idle until stopped");
    }

    let runtime = Runtime::new(
        agent,
        channels,
        RuntimeOptions {
            shutdown_timeout: config.agent.shutdown_timeout,
        },
    );
    let mut work = tokio::spawn(runtime.run(stop_rx));
    info!("picoclaw {} running", env!("CARGO_PKG_VERSION"));
    let mut file_check = tokio::time::interval(DB_FILE_CHECK);
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            _ = file_check.tick() => {
                if let Err(msg) = check_db_file(&db, &config).await {
                    error!("{msg}");
                    outcome = Err(Failure::Runtime(msg));
                    break;
                }
            }
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => reload(&config),
            _ = tick(&mut watchdog) => ping(&notifier),
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
    finish(&db)?;
    outcome
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
