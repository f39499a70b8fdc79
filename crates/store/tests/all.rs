//! The store's integration suite: one binary, modules in `suite/`.

// Test helpers outside #[test] fns are not covered by clippy.toml's
// allow-unwrap-in-tests; a panic is the right failure in a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
