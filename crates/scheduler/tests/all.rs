//! Library tests: the real runtime, store and scheduler sources over an
//! in-memory channel, a scripted provider and a fake clock.

// Tests may panic on anything unexpected; that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
