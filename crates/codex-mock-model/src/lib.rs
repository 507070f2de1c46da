//! codex-mock-model (work in progress).
