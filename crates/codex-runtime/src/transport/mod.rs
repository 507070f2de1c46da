//! The transport seam: how JSON-RPC messages get to and from codex.
//!
//! A [`Transport`] is a [`MessageSender`] plus a [`MessageReceiver`] (two halves, like
//! rust-analyzer's `lsp-server` `Connection`), and optionally the [`ProcessHandle`] of the child
//! it talks to. Four implementations ship:
//!
//! - [`stdio`]: spawns `codex app-server` and speaks JSONL over its stdin/stdout;
//! - `attach` (Cargo feature `attach`): connects to a running server over its Unix socket
//!   (WebSocket framing);
//! - `remote` (Cargo feature `remote`, implies `attach`): connects to a remote server over
//!   `ws://` / `wss://` (same framing, bearer token, rustls);
//! - [`Transport::from_io`]: JSONL over any `AsyncRead`/`AsyncWrite` pair, e.g.
//!   `tokio::io::duplex` in tests ([`Transport::memory`]).
//!
//! Framing never drops data silently: a line longer than the limit becomes an
//! [`Inbound::Oversize`] frame that the JSON-RPC core counts and reports.

#[cfg(feature = "attach")]
pub mod attach;
pub mod binary;
pub mod framing;
pub mod process;
#[cfg(feature = "remote")]
pub mod remote;
pub mod stdio;
#[cfg(feature = "attach")]
mod websocket;

use futures::future::BoxFuture;
use std::io;

pub use framing::{JsonlReceiver, JsonlSender, DEFAULT_MAX_LINE_BYTES};
pub use process::ProcessHandle;

/// One frame read from the transport.
#[derive(Debug)]
pub enum Inbound {
    /// One complete message (a JSONL line without its newline, or one WebSocket text frame).
    Message(Vec<u8>),
    /// A message longer than the configured maximum; its bytes were discarded.
    Oversize {
        /// How many bytes the discarded message had.
        len: usize,
    },
}

/// The sending half of a transport.
pub trait MessageSender: Send + 'static {
    /// Queues one message (without a trailing newline). Implementations may buffer;
    /// [`MessageSender::flush`] pushes the buffer out.
    fn send<'a>(&'a mut self, message: &'a [u8]) -> BoxFuture<'a, io::Result<()>>;
    /// Flushes buffered messages.
    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>>;
    /// Closes the sending direction (stdin EOF / WebSocket close).
    fn close(&mut self) -> BoxFuture<'_, io::Result<()>>;
}

/// The receiving half of a transport.
pub trait MessageReceiver: Send + 'static {
    /// Reads the next frame; `Ok(None)` at end of stream.
    ///
    /// # Cancel safety
    /// Implementations keep partial frames in their own buffer, so dropping the future between
    /// polls loses nothing.
    fn recv(&mut self) -> BoxFuture<'_, io::Result<Option<Inbound>>>;
}

/// A connected transport: the two halves and, for stdio, the child process.
pub struct Transport {
    /// Where outgoing messages go.
    pub sender: Box<dyn MessageSender>,
    /// Where incoming frames come from.
    pub receiver: Box<dyn MessageReceiver>,
    /// The spawned child, for stdio transports.
    pub process: Option<ProcessHandle>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// JSONL over any reader/writer pair, with the given maximum line size.
    pub fn from_io<R, W>(reader: R, writer: W, max_line_bytes: usize) -> Self
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        Transport {
            sender: Box::new(JsonlSender::new(writer)),
            receiver: Box::new(JsonlReceiver::new(reader, max_line_bytes)),
            process: None,
        }
    }

    /// An in-memory transport and the peer end of it (for tests and fakes): whatever the peer
    /// writes as JSONL arrives at the transport, and vice versa.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use codex_runtime::transport::{Transport, DEFAULT_MAX_LINE_BYTES};
    /// let (transport, peer) = Transport::memory(64 * 1024);
    /// # drop((transport, peer));
    /// # }
    /// ```
    pub fn memory(buffer: usize) -> (Self, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(buffer);
        let (r, w) = tokio::io::split(ours);
        (Transport::from_io(r, w, DEFAULT_MAX_LINE_BYTES), theirs)
    }
}
