//! The version policy on the real codex made to report another version (see
//! `tests/version_wrapper`): a codex one minor above the newest tested version is accepted as
//! untested by default, with a warning, and judged by the newest method table;
//! `VersionPolicy::Strict` refuses it; a codex below the floor is refused under every policy.

mod version_wrapper;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{Client, VersionPolicy, MAX_CODEX_VERSION};
use codex_runtime::Error;
use codex_test_support::CodexTestEnv;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use version_wrapper::report_version;

/// A `tracing` writer that keeps what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// `current_thread`: the log subscriber is set for this thread, where the handshake runs.
#[tokio::test(flavor = "current_thread")]
async fn a_newer_codex_is_accepted_as_untested_with_a_warning_and_judged_by_the_newest_table() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = CodexTestEnv::start(Scenario::new([Reply::text("hello from 0.172")]))
        .await
        .unwrap();
    let wrapper = report_version(&env.bin, "0.172.0");
    let client = Client::connect(env.client_config().with_cli_bin(&wrapper.path))
        .await
        .unwrap();
    assert!(
        client.runtime().init_info().user_agent.contains("/0.172.0"),
        "{}",
        client.runtime().init_info().user_agent
    );

    // What the program can read, on every layer.
    let version = client.codex_version().expect("the version is known");
    assert_eq!(version.version(), (0, 172, 0));
    assert!(version.is_untested());
    assert_eq!(version.newest_tested(), MAX_CODEX_VERSION);
    assert_eq!(
        version.to_string(),
        "0.172.0 (untested; newest tested 0.171.0)"
    );
    assert_eq!(client.runtime().codex_version(), Some(version));
    assert_eq!(client.app_server().codex_version(), Some(version));

    // The warning names the version and the newest tested one.
    let logged = logs.text();
    assert!(
        logged.contains("WARN") && logged.contains("0.172.0") && logged.contains("0.171.0"),
        "{logged}"
    );

    // Methods are judged by the newest (0.171.0) table: one it dropped is refused before
    // sending, naming the connected version; one it has goes through.
    let err = client
        .runtime()
        .call("currentTime/read", json!({}))
        .await
        .unwrap_err();
    match &err {
        Error::MethodUnavailable { codex_version, .. } => assert_eq!(codex_version, "0.172.0"),
        other => panic!("expected MethodUnavailable, got {other:?}"),
    }
    client
        .runtime()
        .call("config/read", json!({}))
        .await
        .unwrap();

    // And a session works end to end.
    let session = client.start_session(env.session_config()).await.unwrap();
    let out = session.ask("hi").await.unwrap();
    assert_eq!(out.assistant_text, "hello from 0.172");
    session.close().await.unwrap();
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn strict_refuses_a_newer_codex_naming_the_window_and_the_policy() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let wrapper = report_version(&env.bin, "0.172.0");
    let config = env
        .client_config()
        .with_cli_bin(&wrapper.path)
        .with_version_policy(VersionPolicy::Strict);
    let err = Client::connect(config).await.unwrap_err();
    match &err {
        Error::UnsupportedVersion {
            found,
            minimum,
            newest,
            user_agent,
            strict,
        } => {
            assert_eq!(found, "0.172.0");
            assert_eq!(minimum, "0.150.0");
            assert_eq!(newest, "0.171.0");
            assert!(user_agent.contains("/0.172.0"), "{user_agent}");
            assert!(*strict);
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("0.150.0 to 0.171.0") && msg.contains("VersionPolicy::Strict"),
        "{msg}"
    );
    // The refused codex is not left running.
    env.assert_no_leftover_processes().await;
}

#[tokio::test]
async fn a_codex_below_the_floor_is_refused_under_every_policy() {
    let env = CodexTestEnv::start(Scenario::empty()).await.unwrap();
    let wrapper = report_version(&env.bin, "0.149.0");
    for policy in [VersionPolicy::AcceptNewer, VersionPolicy::Strict] {
        let config = env
            .client_config()
            .with_cli_bin(&wrapper.path)
            .with_version_policy(policy);
        match Client::connect(config).await.unwrap_err() {
            Error::UnsupportedVersion {
                found,
                minimum,
                strict,
                ..
            } => {
                assert_eq!(found, "0.149.0", "{policy:?}");
                assert_eq!(minimum, "0.150.0", "{policy:?}");
                assert!(!strict, "{policy:?}");
            }
            other => panic!("expected UnsupportedVersion under {policy:?}, got {other:?}"),
        }
    }
    env.assert_no_leftover_processes().await;
}
