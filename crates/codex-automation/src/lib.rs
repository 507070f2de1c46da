//! codex-automation (work in progress).
