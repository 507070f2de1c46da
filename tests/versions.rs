//! The supported version window on the real codex (whichever `CODEX_BIN` the matrix points at)
//! and, for versions no installed codex has, on the scripted fake app-server.

use codex_mock_model::Scenario;
use codex_runtime::runtime::{Runtime, RuntimeConfig, MAX_CODEX_VERSION, MIN_CODEX_VERSION};
use codex_runtime::{rpc_methods, Error};
use codex_test_support::CodexTestEnv;
use serde_json::json;
use std::time::Duration;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");

#[tokio::test]
async fn a_method_the_connected_codex_lacks_fails_before_sending_naming_method_and_version() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let rt = Runtime::connect(env.runtime_config()).await.unwrap();
    let version = codex_test_support::codex_version().unwrap();
    let connected = rt.codex_version().unwrap();
    assert_eq!(
        format!("{}.{}.{}", connected.0, connected.1, connected.2),
        version
    );
    assert!((MIN_CODEX_VERSION..=MAX_CODEX_VERSION).contains(&connected));
    // `modelProvider/default/set` is new in 0.171.0; `currentTime/read` is gone since.
    let missing = if connected >= (0, 171, 0) {
        "currentTime/read"
    } else {
        rpc_methods::MODEL_PROVIDER_DEFAULT_SET
    };
    let sent_before = rt.metrics().messages_out;
    let err = rt.call(missing, json!({})).await.unwrap_err();
    match &err {
        Error::MethodUnavailable {
            method,
            codex_version,
            ..
        } => {
            assert_eq!(method, missing);
            assert_eq!(codex_version, &version);
        }
        other => panic!("expected MethodUnavailable, got {other:?}"),
    }
    assert!(err.to_string().contains(missing) && err.to_string().contains(&version));
    assert_eq!(rt.metrics().messages_out, sent_before, "nothing was sent");

    // A method every version has still goes through.
    rt.call(rpc_methods::CONFIG_READ, json!({})).await.unwrap();
    assert!(rt.metrics().messages_out > sent_before);
    rt.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

async fn connect_fake(version: &str) -> Result<Runtime, Error> {
    Runtime::connect(
        RuntimeConfig::new()
            .with_cli_bin(FAKE)
            .with_env("FAKE_VERSION", version)
            .with_request_timeout(Duration::from_secs(10)),
    )
    .await
}

#[tokio::test]
async fn versions_outside_the_window_are_refused_naming_the_window() {
    for found in ["0.149.0", "0.172.0", "1.0.0"] {
        let err = connect_fake(found).await.unwrap_err();
        match &err {
            Error::UnsupportedVersion {
                found: f,
                minimum,
                newest,
                ..
            } => {
                assert_eq!(f, found);
                assert_eq!(minimum, "0.150.0");
                assert_eq!(newest, "0.171.0");
            }
            other => panic!("expected UnsupportedVersion for {found}, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("0.150.0 to 0.171.0"), "{msg}");
    }
    // Both ends of the window and an untabled version inside it are accepted.
    for ok in ["0.150.0", "0.167.2", "0.171.0"] {
        let rt = connect_fake(ok).await.unwrap();
        rt.shutdown().await.unwrap();
    }
}
