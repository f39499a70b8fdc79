//! picoclaw-config (in progress).
