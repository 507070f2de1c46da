//! codex-hooks (work in progress).
