//! Attaching to a running app-server over its Unix socket.
//!
//! `codex app-server --listen unix://PATH` and the daemon (`codex app-server daemon start`,
//! socket `$CODEX_HOME/app-server-control/app-server-control.sock`) speak WebSocket over the
//! Unix socket: an HTTP Upgrade, then one JSON-RPC message per text frame.

use super::{Inbound, MessageReceiver, MessageSender, Transport};
use crate::error::{Error, Result};
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::io;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<UnixStream>;

/// The control socket of the app-server daemon under a `CODEX_HOME`.
pub fn daemon_socket_path(codex_home: &Path) -> PathBuf {
    codex_home
        .join("app-server-control")
        .join("app-server-control.sock")
}

/// Connects to the server listening on `path`.
#[tracing::instrument(level = "debug")]
pub async fn connect(path: &Path, max_message_bytes: usize) -> Result<Transport> {
    let attach_err = |message: String| Error::Attach {
        path: path.to_path_buf(),
        message,
    };
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| attach_err(format!("connect: {e}")))?;
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(max_message_bytes);
    config.max_frame_size = Some(max_message_bytes);
    let (ws, _resp) =
        tokio_tungstenite::client_async_with_config("ws://localhost/", stream, Some(config))
            .await
            .map_err(|e| attach_err(format!("websocket upgrade: {e}")))?;
    let (sink, stream) = ws.split();
    Ok(Transport {
        sender: Box::new(WsSender { sink }),
        receiver: Box::new(WsReceiver { stream }),
        process: None,
    })
}

struct WsSender {
    sink: SplitSink<Ws, Message>,
}

impl MessageSender for WsSender {
    fn send<'a>(&'a mut self, message: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let text = String::from_utf8(message.to_vec())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.sink
                .feed(Message::text(text))
                .await
                .map_err(io::Error::other)
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.sink.flush().await.map_err(io::Error::other) })
    }

    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.sink.close().await.map_err(io::Error::other) })
    }
}

struct WsReceiver {
    stream: SplitStream<Ws>,
}

impl MessageReceiver for WsReceiver {
    fn recv(&mut self) -> BoxFuture<'_, io::Result<Option<Inbound>>> {
        Box::pin(async move {
            loop {
                match self.stream.next().await {
                    None => return Ok(None),
                    Some(Ok(Message::Text(t))) => {
                        return Ok(Some(Inbound::Message(t.as_bytes().to_vec())))
                    }
                    Some(Ok(Message::Binary(b))) => return Ok(Some(Inbound::Message(b.to_vec()))),
                    Some(Ok(Message::Close(_))) => return Ok(None),
                    Some(Ok(_)) => continue, // ping/pong/raw frames
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                        tracing::warn!("oversize websocket message: {e}");
                        return Ok(Some(Inbound::Oversize { len: 0 }));
                    }
                    Some(Err(e)) => return Err(io::Error::other(e)),
                }
            }
        })
    }
}
