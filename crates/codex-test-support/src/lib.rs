//! codex-test-support (work in progress).
