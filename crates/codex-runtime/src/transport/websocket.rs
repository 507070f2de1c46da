//! JSON-RPC over WebSocket, one message per text frame: the framing shared by [`super::attach`]
//! (a Unix socket) and [`super::remote`] (`ws://` / `wss://`).

use super::{Inbound, MessageReceiver, MessageSender, Transport};
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket limits for a maximum message size.
pub(crate) fn config(max_message_bytes: usize) -> WebSocketConfig {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(max_message_bytes);
    config.max_frame_size = Some(max_message_bytes);
    config
}

/// A transport over an upgraded WebSocket stream.
pub(crate) fn transport<S>(ws: WebSocketStream<S>) -> Transport
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    Transport {
        sender: Box::new(WsSender { sink }),
        receiver: Box::new(WsReceiver { stream }),
        process: None,
    }
}

struct WsSender<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
}

impl<S> MessageSender for WsSender<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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

struct WsReceiver<S> {
    stream: SplitStream<WebSocketStream<S>>,
}

impl<S> MessageReceiver for WsReceiver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
