//! Test support for the codex-runtime workspace: the pinned real `codex` binary, a scripted mock
//! model (from `codex-mock-model`), a throw-away `CODEX_HOME` and project directory, and a
//! guarantee that no process outlives the test.
//!
//! Module layout:
//! - [`codex_bin`](mod@codex_bin): [`codex_bin()`], the pinned codex (`CODEX_BIN` or
//!   `scripts/install-codex.sh`);
//! - [`env`](mod@env): [`CodexTestEnv`], mock + home + workdir + commands, killing leftovers on drop;
//! - [`leftovers`]: scanning `/proc/*/environ` for the per-environment tag and killing by it;
//! - [`postgres`]: [`postgres::fresh_database`], an empty PostgreSQL database per test on a real
//!   server (`DATABASE_URL`, else 127.0.0.1:5432; never skipped);
//! - [`error`]: the crate's error type, [`TestSupportError`].
//!
//! ```no_run
//! use codex_mock_model::{Reply, Scenario};
//! use codex_test_support::CodexTestEnv;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), codex_test_support::TestSupportError> {
//! let env = CodexTestEnv::start(Scenario::new([Reply::text("hi")])).await?;
//! let child = env.app_server_command().spawn().expect("spawn codex app-server");
//! drop(child);
//! env.assert_no_leftover_processes().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod codex_bin;
pub mod env;
pub mod error;
pub mod leftovers;
pub mod postgres;
mod sdk;

pub use codex_bin::{codex_bin, codex_bin_version, codex_version, CODEX_BIN_ENV};
pub use env::{CodexTestEnv, LEFTOVER_WAIT};
pub use error::TestSupportError;
pub use leftovers::{
    command_line, kill_tagged, processes_tagged, wait_until_untagged, TAG_ENV, TERM_GRACE,
};

/// Re-export of the mock model crate, so tests need a single dependency.
pub use codex_mock_model;
