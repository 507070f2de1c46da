//! The supported version window on the real codex (whichever `CODEX_BIN` the matrix points at)
//! and, for versions no installed codex has, on the scripted fake app-server.

use codex_mock_model::Scenario;
use codex_runtime::runtime::{
    Runtime, RuntimeConfig, VersionPolicy, MAX_CODEX_VERSION, MIN_CODEX_VERSION,
};
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
    let info = rt.codex_version().unwrap();
    let connected = info.version();
    assert_eq!(
        format!("{}.{}.{}", connected.0, connected.1, connected.2),
        version
    );
    // Inside the tested window, or (the matrix's npm `latest` run) newer and flagged untested.
    assert!(connected >= MIN_CODEX_VERSION);
    assert_eq!(info.is_untested(), connected > MAX_CODEX_VERSION);
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

async fn connect_fake(version: &str, policy: VersionPolicy) -> Result<Runtime, Error> {
    Runtime::connect(
        RuntimeConfig::new()
            .with_cli_bin(FAKE)
            .with_env("FAKE_VERSION", version)
            .with_version_policy(policy)
            .with_request_timeout(Duration::from_secs(10)),
    )
    .await
}

#[tokio::test]
async fn versions_outside_the_window_are_refused_naming_the_window() {
    // Below the floor under every policy; above the newest tested version under Strict only.
    let refused = [
        ("0.149.0", VersionPolicy::AcceptNewer),
        ("0.149.0", VersionPolicy::Strict),
        ("0.172.0", VersionPolicy::Strict),
        ("1.0.0", VersionPolicy::Strict),
    ];
    for (found, policy) in refused {
        let err = connect_fake(found, policy).await.unwrap_err();
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
    // Both ends of the window and an untabled version inside it are accepted, as tested.
    for ok in ["0.150.0", "0.167.2", "0.171.0"] {
        for policy in [VersionPolicy::AcceptNewer, VersionPolicy::Strict] {
            let rt = connect_fake(ok, policy).await.unwrap();
            assert!(!rt.codex_version().unwrap().is_untested());
            rt.shutdown().await.unwrap();
        }
    }
    // Newer versions are accepted by default, as untested.
    for newer in ["0.172.0", "1.0.0"] {
        let rt = connect_fake(newer, VersionPolicy::default()).await.unwrap();
        let v = rt.codex_version().unwrap();
        assert!(v.is_untested(), "{v}");
        assert_eq!(
            v.to_string(),
            format!("{newer} (untested; newest tested 0.171.0)")
        );
        rt.shutdown().await.unwrap();
    }
}
