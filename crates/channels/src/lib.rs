//! picoclaw-channels (in progress).
