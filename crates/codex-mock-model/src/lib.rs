//! A scripted mock of the OpenAI Responses API, so the real `codex` (0.169.0) can run offline
//! in tests.
//!
//! A test scripts a [`Scenario`] (an ordered queue of [`Reply`]s), starts a [`MockModel`] on an
//! ephemeral loopback port, writes a [`CodexHome`] whose `config.toml` points codex at it, and
//! runs `codex app-server` with `CODEX_HOME` set to that directory and `OPENAI_API_KEY=test`.
//! Every `POST /v1/responses` codex makes takes the next reply, streamed as Server-Sent Events,
//! and is recorded for later assertions.
//!
//! Module layout:
//! - [`reply`]: [`Reply`], one scripted answer (text, deltas, tool calls, JSON, stall, errors);
//! - [`scenario`]: [`Scenario`], the queue of replies, loadable from JSON;
//! - [`server`]: [`MockModel`], the running axum server, its recording and stall control;
//! - [`recorded`]: [`RecordedRequest`], one request the server saw;
//! - [`schema_instance`]: [`instance_from_schema`], behind [`Reply::JsonFromSchema`];
//! - [`codex_home`]: [`CodexHome`] and the generated `config.toml`;
//! - [`scratch`]: [`ScratchDir`], fresh directories under the workspace `target/`;
//! - [`error`]: [`MockError`], the crate's error type;
//! - private: `state` (what the handle and handlers share), `routes` (the HTTP handlers),
//!   `plan` (a reply as SSE steps), `stream` (playing steps, stalls included), `sse` (event
//!   shapes and framing).
//!
//! ```
//! use codex_mock_model::{CodexHome, HomeOptions, MockModel, Reply, Scenario};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), codex_mock_model::MockError> {
//! let mock = MockModel::start(Scenario::new([Reply::shell("ls"), Reply::text("done")])).await?;
//! let home = CodexHome::create(&mock.url(), HomeOptions::default())?;
//! // spawn `codex app-server` with CODEX_HOME=home.path() and OPENAI_API_KEY=test ...
//! assert!(mock.response_requests().is_empty());
//! # drop(home);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod codex_home;
pub mod error;
mod plan;
pub mod recorded;
pub mod reply;
mod routes;
pub mod scenario;
pub mod schema_instance;
pub mod scratch;
pub mod server;
mod sse;
mod state;
mod stream;

pub use codex_home::{
    codex_config_toml, write_codex_config, ApprovalPolicy, CodexHome, HomeOptions, SandboxMode,
};
pub use error::MockError;
pub use recorded::{input_items_of_type, RecordedRequest};
pub use reply::{Reply, UserInputOption, UserInputQuestion};
pub use scenario::Scenario;
pub use schema_instance::instance_from_schema;
pub use scratch::{scratch_root, ScratchDir, SCRATCH_ROOT_ENV};
pub use server::{MockModel, MockOptions};
