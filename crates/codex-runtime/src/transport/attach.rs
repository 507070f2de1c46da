//! Attaching to a running app-server over its Unix socket.
//!
//! `codex app-server --listen unix://PATH` and the daemon (`codex app-server daemon start`,
//! socket `$CODEX_HOME/app-server-control/app-server-control.sock`) speak WebSocket over the
//! Unix socket: an HTTP Upgrade, then one JSON-RPC message per text frame
//! (`transport/websocket.rs`).

use super::{websocket, Transport};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

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
    let (ws, _resp) = tokio_tungstenite::client_async_with_config(
        "ws://localhost/",
        stream,
        Some(websocket::config(max_message_bytes)),
    )
    .await
    .map_err(|e| attach_err(format!("websocket upgrade: {e}")))?;
    Ok(websocket::transport(ws))
}
