//! picoclaw-providers (in progress).
