//! Credentials of the HTTP flow client never leave for another host or show in `Debug` and
//! errors.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::any;
use axum::Router;
use codex_flow::{DispatchOptions, FlowClient, FlowError, HttpFlowClient, HttpFlowClientConfig};
use serde_json::json;

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn redirects_are_not_followed_when_credentials_are_configured() {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let other = serve(Router::new().fallback(any({
        let seen = seen.clone();
        move |headers: HeaderMap| async move {
            seen.lock().unwrap().push(headers);
            axum::Json(json!({"status": "accepted", "eventId": "e", "runIds": []}))
        }
    })))
    .await;
    // "localhost" is another host than "127.0.0.1" for the client.
    let target = format!("http://localhost:{}/events", other.port());
    let first = serve(Router::new().fallback(any(move || {
        let target = target.clone();
        async move { Redirect::temporary(&target).into_response() }
    })))
    .await;
    let mut config = HttpFlowClientConfig::new(format!("http://{first}"));
    config.api_key = Some("key-123".into());
    config.signing_secret = Some("secret-456".into());
    let client = HttpFlowClient::new(config).unwrap();
    let err = client
        .dispatch_event(json!({"id": "e", "type": "t"}), DispatchOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Backend { status: 307, .. }),
        "{err:?}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the other host received the credentials"
    );
}

#[test]
fn debug_never_prints_tokens_or_secrets() {
    let mut config = HttpFlowClientConfig::new("https://me:hunter2@flows.example.com/api");
    config.token = Some("tok-SECRET-1".into());
    config.api_key = Some("key-SECRET-2".into());
    config.signing_secret = Some("sig-SECRET-3".into());
    let client = HttpFlowClient::new(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{client:?}")] {
        for secret in ["tok-SECRET-1", "key-SECRET-2", "sig-SECRET-3"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(!format!("{client:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_base_url_with_userinfo_never_shows_in_errors() {
    // Nothing listens on port 9 of the loopback: the request fails.
    let client = HttpFlowClient::new(HttpFlowClientConfig::new(
        "http://me:hunter2@127.0.0.1:9/api",
    ))
    .unwrap();
    let err = client.get_run("run_1").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    let err =
        HttpFlowClient::new(HttpFlowClientConfig::new("ftp://me:hunter2@host/x")).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("hunter2") && text.contains("***@host"),
        "{text}"
    );
}
