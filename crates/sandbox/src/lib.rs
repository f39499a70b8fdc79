//! picoclaw-sandbox (in progress).
