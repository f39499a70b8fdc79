//! One integration-test binary for picoclaw-mcp: a scripted fake server
//! (stdio and HTTP) for the failure modes, and the real reference servers
//! from npm (installed by `scripts/mcp-servers`) for interoperability.
//! Fixture helpers unwrap freely: a broken fixture is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
