//! A missing database is created by a short-lived child process.
//!
//! Creating the schema parses it again after every statement (about 7,000
//! allocations, ~0.75 MiB at the peak). In the daemon those freed pieces
//! stay resident between longer-lived blocks for the whole life of the
//! process: a first start idled ~0.5 MiB above a restart on the same
//! database (static musl, measured with scripts/bench). A child that
//! creates the file and exits takes that churn with it; the daemon then
//! opens a finished schema, as on every later start. It costs one exec on
//! the first start only. If the child fails for any reason, the daemon
//! creates the database itself, and any error is reported from there.

use std::path::Path;
use std::process::{Command, Stdio};

use picoclaw_store::{Store, StoreOptions, DB_FILE};

/// argv[1] that makes the binary create the store in argv[2] and exit.
pub const CREATE_STORE_ARG: &str = "__create-store";

/// In the daemon, before opening the store: creates it in a child when
/// the database file does not exist yet.
pub fn create_in_child(dir: &Path) {
    if dir.join(DB_FILE).exists() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let status = Command::new(exe)
        .arg(CREATE_STORE_ARG)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        picoclaw_core::debug!(
            "creating the database in a child failed ({status:?}); creating it here"
        );
    }
}

/// The child's side: argv after [`CREATE_STORE_ARG`]. Exit status 0 when
/// the store was created and migrated.
pub fn child_main(args: &[String]) -> i32 {
    let Some(dir) = args.first() else {
        return 2;
    };
    match Store::open(Path::new(dir), &StoreOptions::default()) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}
