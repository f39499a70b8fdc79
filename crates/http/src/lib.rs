//! picoclaw-http (in progress).
