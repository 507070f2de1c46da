//! How JSON-RPC messages get to and from codex: a [`Transport`] (sender and receiver halves
//! plus the child [`ProcessHandle`]), spawning over stdio ([`stdio`]), attaching over a Unix
//! socket ([`attach`]), finding the binary ([`binary`]), JSONL framing ([`framing`]) and the
//! child process ([`process`]). Re-exported from `crate::transport`.

pub use crate::transport::{
    attach, binary, framing, process, stdio, Inbound, JsonlReceiver, JsonlSender, MessageReceiver,
    MessageSender, ProcessHandle, Transport, DEFAULT_MAX_LINE_BYTES,
};
