//! How JSON-RPC messages get to and from codex: a [`Transport`] (sender and receiver halves
//! plus the child [`ProcessHandle`]), spawning over stdio ([`stdio`]), attaching over a Unix
//! socket (`attach`, Cargo feature `attach`), finding the binary ([`binary`]), JSONL framing
//! ([`framing`]) and the child process ([`process`]). Re-exported from `crate::transport`.

#[cfg(feature = "attach")]
pub use crate::transport::attach;
pub use crate::transport::{
    binary, framing, process, stdio, Inbound, JsonlReceiver, JsonlSender, MessageReceiver,
    MessageSender, ProcessHandle, Transport, DEFAULT_MAX_LINE_BYTES,
};
