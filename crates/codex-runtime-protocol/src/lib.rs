//! codex-runtime-protocol (work in progress).
