//! codex-runtime (work in progress).
