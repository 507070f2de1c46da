//! codex-flow (work in progress).
