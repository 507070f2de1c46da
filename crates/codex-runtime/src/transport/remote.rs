//! Attaching to a remote app-server over `ws://` or `wss://`
//! (`codex app-server --listen ws://IP:PORT`, optionally behind a TLS proxy).
//!
//! The handshake is a WebSocket upgrade carrying `Authorization: Bearer <token>` when a token is
//! configured (codex's `--ws-auth capability-token` or `signed-bearer-token`); then one JSON-RPC
//! message per text frame (`transport/websocket.rs`). TLS is rustls with the platform's roots.
//!
//! The token is read at each connect (so a rotated file is picked up on reconnect), held in a
//! [`SecretString`], sent only in the upgrade header (marked sensitive) and never printed: not
//! by `Debug`, not in logs, not in errors. Like codex's own `--remote` client, a token is only
//! sent over `wss://` or over `ws://` to a loopback host.

use super::{websocket, Transport};
use crate::error::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;
use std::path::PathBuf;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, Uri};

/// Where the bearer token of a remote app-server comes from. Only the source is stored; the
/// token itself is read at connect time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The value of this environment variable (like `codex --remote-auth-token-env VAR`).
    Env(String),
    /// The contents of this file, surrounding whitespace trimmed (like `--ws-token-file`).
    File(PathBuf),
}

/// A remote app-server: its URL and, optionally, where its bearer token comes from.
///
/// ```
/// use codex_runtime::transport::remote::RemoteEndpoint;
/// let remote = RemoteEndpoint::new("wss://codex.example.com:8443").with_token_env("CODEX_TOKEN");
/// assert_eq!(remote.url(), "wss://codex.example.com:8443");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEndpoint {
    url: String,
    token: Option<TokenSource>,
}

impl RemoteEndpoint {
    /// A server at `url` (`ws://HOST:PORT` or `wss://HOST:PORT[/PATH]`), no token.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteEndpoint {
            url: url.into(),
            token: None,
        }
    }

    /// Sends the token held in this environment variable.
    pub fn with_token_env(mut self, var: impl Into<String>) -> Self {
        self.token = Some(TokenSource::Env(var.into()));
        self
    }

    /// Sends the token held in this file.
    pub fn with_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token = Some(TokenSource::File(path.into()));
        self
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the token comes from, if one is sent.
    pub fn token_source(&self) -> Option<&TokenSource> {
        self.token.as_ref()
    }
}

impl From<&str> for RemoteEndpoint {
    fn from(url: &str) -> Self {
        RemoteEndpoint::new(url)
    }
}

impl From<String> for RemoteEndpoint {
    fn from(url: String) -> Self {
        RemoteEndpoint::new(url)
    }
}

/// Reads the token from its source. Errors name the source, never the value.
fn read_token(source: &TokenSource) -> Result<SecretString> {
    let token = match source {
        TokenSource::Env(var) => std::env::var(var).map_err(|_| {
            Error::Config(format!(
                "remote app-server token: environment variable {var} is not set (or not UTF-8)"
            ))
        })?,
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "remote app-server token: cannot read {}: {e}",
                path.display()
            ))
        })?,
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Config(format!(
            "remote app-server token from {source:?} is empty"
        )));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// Whether `host` (from a URL, IPv6 possibly in brackets) is a loopback address.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks the URL: `ws://` or `wss://` with a host, and a token only over `wss://` or to a
/// loopback host. Returns the parsed URI.
fn validate(endpoint: &RemoteEndpoint) -> Result<Uri> {
    let url = endpoint.url();
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::Config(format!("remote app-server URL {url:?} is invalid: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "ws" && scheme != "wss" {
        return Err(Error::Config(format!(
            "remote app-server URL {url:?} must start with ws:// or wss://"
        )));
    }
    let Some(host) = uri.host() else {
        return Err(Error::Config(format!(
            "remote app-server URL {url:?} has no host"
        )));
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Error::Config(format!(
            "remote app-server URL for host {host} must not carry credentials; use a token source"
        )));
    }
    if endpoint.token.is_some() && scheme == "ws" && !is_loopback(host) {
        return Err(Error::Config(format!(
            "refusing to send a bearer token over plain ws:// to the non-loopback host {host}; use wss://"
        )));
    }
    Ok(uri)
}

/// Connects to the remote server and performs the WebSocket upgrade.
#[tracing::instrument(level = "debug", skip(endpoint), fields(url = %endpoint.url()))]
pub async fn connect(endpoint: &RemoteEndpoint, max_message_bytes: usize) -> Result<Transport> {
    let url = endpoint.url().to_string();
    let uri = validate(endpoint)?;
    let mut request = uri
        .into_client_request()
        .map_err(|e| Error::RemoteConnect {
            url: url.clone(),
            message: format!("bad request: {e}"),
        })?;
    if let Some(source) = &endpoint.token {
        let token = read_token(source)?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                Error::Config(format!(
                    "remote app-server token from {source:?} is not a valid header value"
                ))
            })?;
        value.set_sensitive(true);
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let connector = if uri_is_tls(&url) {
        Some(tls_connector(&url)?)
    } else {
        None
    };
    let (ws, _resp) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(websocket::config(max_message_bytes)),
        false,
        connector,
    )
    .await
    .map_err(|e| upgrade_error(&url, e))?;
    tracing::debug!("connected to the remote app-server");
    Ok(websocket::transport(ws))
}

fn uri_is_tls(url: &str) -> bool {
    url.starts_with("wss://")
}

/// rustls with the ring provider (set explicitly, so no process-wide default is needed or
/// installed) and the platform's root certificates.
fn tls_connector(url: &str) -> Result<tokio_tungstenite::Connector> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::warn!("loading a platform root certificate failed: {err}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        return Err(Error::RemoteConnect {
            url: url.to_string(),
            message: "no platform root certificates found for wss://".to_string(),
        });
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::RemoteConnect {
        url: url.to_string(),
        message: format!("TLS setup: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
        config,
    )))
}

/// A failed upgrade as a typed error. The request (and its token) never reaches the message.
fn upgrade_error(url: &str, err: tokio_tungstenite::tungstenite::Error) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err {
        WsError::Http(response) if response.status().as_u16() == 401 => Error::RemoteUnauthorized {
            url: url.to_string(),
        },
        WsError::Http(response) => Error::RemoteNotReady {
            url: url.to_string(),
            status: response.status().as_u16(),
        },
        WsError::Io(e) => Error::RemoteConnect {
            url: url.to_string(),
            message: e.to_string(),
        },
        other => Error::RemoteConnect {
            url: url.to_string(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_only_over_wss_or_to_loopback() {
        let with_token = |url: &str| RemoteEndpoint::new(url).with_token_env("T");
        for ok in [
            "ws://127.0.0.1:4500",
            "ws://localhost:4500",
            "ws://[::1]:4500",
            "wss://codex.example.com",
            "wss://10.0.0.5:443/rpc",
        ] {
            assert!(validate(&with_token(ok)).is_ok(), "{ok}");
        }
        let err = validate(&with_token("ws://10.0.0.5:4500")).unwrap_err();
        assert!(err.to_string().contains("10.0.0.5") && err.to_string().contains("wss://"));
        // No token: plain ws:// anywhere is the user's call.
        assert!(validate(&RemoteEndpoint::new("ws://10.0.0.5:4500")).is_ok());
        for bad in [
            "http://127.0.0.1:1",
            "127.0.0.1:4500",
            "ws://user:pw@127.0.0.1:1",
        ] {
            let err = validate(&RemoteEndpoint::new(bad)).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    /// A server that answers the upgrade with `status` (codex itself cannot be made to answer
    /// "not ready" on demand); returns the request head it received.
    async fn one_shot_http(status: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            s.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&head).to_string()
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_server_that_is_not_ready_is_a_typed_error_and_the_token_goes_in_the_header() {
        let (port, task) = one_shot_http("503 Service Unavailable").await;
        let var = format!("CODEX_RUNTIME_REMOTE_TEST_TOKEN_{}", std::process::id());
        std::env::set_var(&var, "tok-503-secret");
        let endpoint = RemoteEndpoint::new(format!("ws://127.0.0.1:{port}")).with_token_env(&var);
        let err = connect(&endpoint, 1 << 20).await.unwrap_err();
        match &err {
            Error::RemoteNotReady { url, status } => {
                assert_eq!(url, &format!("ws://127.0.0.1:{port}"));
                assert_eq!(*status, 503);
            }
            other => panic!("expected RemoteNotReady, got {other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains("tok-503-secret"));
        let head = task.await.unwrap().to_lowercase();
        assert!(
            head.contains("authorization: bearer tok-503-secret"),
            "{head}"
        );
    }

    #[test]
    fn a_token_never_shows_in_debug_or_errors() {
        let dir = std::env::temp_dir().join(format!("codex-remote-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "s3cr3t-value\n").unwrap();
        let token = read_token(&TokenSource::File(file.clone())).unwrap();
        assert_eq!(token.expose_secret(), "s3cr3t-value");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let endpoint = RemoteEndpoint::new("ws://127.0.0.1:1").with_token_file(&file);
        assert!(!format!("{endpoint:?}").contains("s3cr3t"));
        std::fs::write(&file, "  \n").unwrap();
        let err = read_token(&TokenSource::File(file.clone())).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = read_token(&TokenSource::Env("CODEX_RUNTIME_TEST_UNSET_VAR".into())).unwrap_err();
        assert!(
            err.to_string().contains("CODEX_RUNTIME_TEST_UNSET_VAR"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
