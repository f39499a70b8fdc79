//! Release binaries are linked without unwind tables (.eh_frame and
//! .eh_frame_hdr, about 530 KiB of a 4 MiB budget).
//!
//! The release profile is `panic = "abort"`, so nothing ever unwinds: the only
//! reader of those tables is the backtrace printed on a panic with
//! RUST_BACKTRACE set, and a stripped binary's backtrace is a list of bare
//! addresses anyway. The panic message and the abort are unchanged. rustc has
//! no switch for this (`-C force-unwind-tables=no` does not reach the
//! precompiled std, which is most of the tables), so a two-line linker script
//! discards the sections; GNU ld, rust-lld and zig's lld all accept it.
//! Debug and test builds keep their tables: tests unwind.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/no-unwind-tables.ld");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    // A build script cannot see the profile's `panic` setting (its
    // CARGO_CFG_PANIC is the target's default), so this relies on every
    // release-derived profile in the workspace Cargo.toml keeping "abort".
    if release && linux {
        let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        let script = Path::new(&dir).join("link/no-unwind-tables.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
