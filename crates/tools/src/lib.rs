//! picoclaw-tools (in progress).
