//! picoclaw-store (in progress).
