//! Hooks: code that runs around runs, sessions, turns and tool use, and can block or rewrite
//! them. Re-exported from the `codex-hooks` crate; see its documentation for the details,
//! including how these client-side hooks relate to codex's own server-side hooks
//! (`hooks/list`, `hook/started`, `hook/completed`).

pub use codex_hooks::*;
