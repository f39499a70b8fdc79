//! One integration-test binary for picoclaw-tools; the cases live in
//! `suite/`.

mod suite;
