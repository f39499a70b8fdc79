//! Integration tests for picoclaw-channels, against the fake servers in
//! picoclaw-testkit on 127.0.0.1.

mod suite;
