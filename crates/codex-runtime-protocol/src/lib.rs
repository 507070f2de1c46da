//! Typed protocol of the codex app-server (`codex app-server`, pinned 0.171.0): every params,
//! result and notification type, GENERATED from the JSON Schemas that codex itself emits.
//!
//! # Layout
//! - [`generated::types`] (re-exported at the root): one Rust type per schema definition.
//!   Objects are structs with snake_case fields, string enums are enums with an `Unknown(String)`
//!   fallback and an `as_str()`, tagged unions (`ThreadItem`, `UserInput`, `SandboxPolicy`, ...)
//!   are enums with named variants and an `Unknown(serde_json::Value)` fallback.
//! - [`ClientRequest`]: one impl per client method, linking its params type to its
//!   `METHOD` and `Response` type; [`client_method_info`] answers the same by method name.
//! - [`ServerNotification`] and [`ServerRequest`]: what the server sends, decoded by method
//!   (`decode(method, params)`), with an `Unknown { method, params }` fallback.
//!   [`ServerRequestMethod`] links each server-request params type to the response type the
//!   client must send back.
//! - [`rpc_methods`], [`notification_methods`], [`server_request_methods`]: method-name constants
//!   and `ALL` lists.
//! - [`RequestId`]: a JSON-RPC id, integer or string (`1` and `"1"` stay distinct).
//! - `reencode_client_params`, `reencode_client_response`, `reencode_server_response` (Cargo
//!   feature `reencode`, off by default): decode a payload by method into its typed form and
//!   encode it back, to check recorded traffic against the schema (used by the transcript
//!   tests). They are behind a feature because they instantiate every type's serde code in this
//!   crate: without them a cold build of the crate takes about 40 % less time.
//!
//! Experimental client methods (those only in `generate-json-schema --experimental`) have their
//! constants, [`ClientRequest`] impls and [`client_method_info`] entries behind the
//! `experimental` cargo feature. The types themselves are always present.
//!
//! # Tolerance
//! A newer codex must never break decoding: unknown fields are ignored (no
//! `deny_unknown_fields`), unknown enum strings decode to `Unknown(String)`, unknown union tags
//! to `Unknown(serde_json::Value)` with the raw object, unknown notification and server-request
//! methods to `Unknown { method, params }`. What the schema marks optional or nullable is an
//! `Option` that is left out when `None`. Params that are present but do not match the schema
//! are a `serde_json::Error` naming the field and its position (and, inside a union, the union
//! and the variant, e.g. ``ThreadItem `agentMessage`: missing field `text` ``).
//!
//! A field whose type changed shape between codex versions in the supported window (listed under
//! `lenient_types` in `scripts/protocol-exceptions.json`, e.g. `AgentMessageModeration.display`)
//! is generated as [`MaybeTyped<T>`]: the typed value when it matches, else that field's raw JSON
//! and the decode error, so one drifted field never fails the whole item or notification. Only
//! listed fields pay the buffering this needs; everything else decodes straight from the stream.
//!
//! # Regenerating
//! The code under `src/generated/` is written by `scripts/gen-protocol.py` (Python 3, stdlib only)
//! from `schemas/` and `scripts/protocol-exceptions.json`; never edit it by hand.
//! `scripts/check-protocol.sh` fails when the committed code is not what the generator writes,
//! and `scripts/check-schemas.sh` fails when `schemas/` is not what the pinned codex emits.
//!
//! ```
//! use codex_runtime_protocol::{ClientRequest, CommandExecParams, ServerNotification, rpc_methods};
//!
//! let params = CommandExecParams {
//!     command: vec!["ls".into()],
//!     cwd: Some("/tmp".into()),
//!     ..CommandExecParams::default()
//! };
//! assert_eq!(<CommandExecParams as ClientRequest>::METHOD, rpc_methods::COMMAND_EXEC);
//! assert_eq!(serde_json::to_value(&params).unwrap()["command"][0], "ls");
//!
//! let raw = serde_json::value::RawValue::from_string(
//!     r#"{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"Hel"}"#.to_owned(),
//! ).unwrap();
//! let note = ServerNotification::decode("item/agentMessage/delta", &raw).unwrap();
//! assert_eq!(note.thread_id(), Some("t1"));
//! assert_eq!(note.turn_id(), Some("u1"));
//! ```
#![warn(missing_docs)]

pub mod generated;

pub use generated::client_requests::{client_method_info, ClientRequest, MethodInfo};
#[cfg(feature = "reencode")]
pub use generated::client_requests::{reencode_client_params, reencode_client_response};
pub use generated::methods::{notification_methods, rpc_methods, server_request_methods};
pub use generated::notifications::ServerNotification;
#[cfg(feature = "reencode")]
pub use generated::server_requests::reencode_server_response;
pub use generated::server_requests::{ServerRequest, ServerRequestMethod};
pub use generated::types::*;
