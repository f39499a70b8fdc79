//! One integration-test binary for picoclaw-tools; the cases live in
//! `suite/`. Fixture helpers unwrap freely: a broken temp dir is a test
//! failure, not something to handle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
