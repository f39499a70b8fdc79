//! picoclaw-agent (in progress).
