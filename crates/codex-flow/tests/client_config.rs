//! Reading a flow client configuration: unknown keys are refused with an error naming the key
//! (and the key meant, where there is one); the reference client's names are aliases.

use codex_flow::{
    FlowClientConfig, FlowError, HttpFlowClientConfig, LocalFlowClientConfig, StateMode,
};
use serde_json::json;

fn err(value: serde_json::Value) -> String {
    match FlowClientConfig::from_value(value) {
        Err(FlowError::Config(message)) => message,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn unknown_http_keys_are_refused_with_the_key_meant() {
    let message = err(json!({
        "backend": "http", "baseUrl": "https://f.example", "hmac_secret": "s"
    }));
    assert_eq!(
        message,
        "unknown key `hmac_secret` in the http flow client configuration; did you mean `hmacSecret`?"
    );
    let message = err(json!({"backend": "http", "baseUrl": "https://f.example", "tokne": "t"}));
    assert!(
        message.contains("`tokne`") && message.contains("did you mean `token`?"),
        "{message}"
    );
    let message = err(json!({"backend": "http", "baseUrl": "https://f.example", "zzzz": 1}));
    assert!(message.contains("unknown key `zzzz`"), "{message}");
    assert!(
        message.contains("known keys:") && message.contains("signingSecret"),
        "{message}"
    );
    // serde_json callers get the same message.
    let serde_err = serde_json::from_value::<FlowClientConfig>(json!({
        "backend": "http", "baseUrl": "https://f.example", "secret": "s"
    }))
    .unwrap_err()
    .to_string();
    assert!(serde_err.contains("unknown key `secret`"), "{serde_err}");
}

#[test]
fn unknown_local_keys_are_refused_including_nested_ones() {
    let message = err(json!({"backend": "local", "cwd": "/tmp", "stateDirectory": "/x"}));
    assert!(message.contains("did you mean `stateDir`?"), "{message}");
    let message = err(json!({"backend": "local", "cwd": "/tmp", "codeMode": {"modle": "m"}}));
    assert!(
        message.contains("unknown key `modle` in `codeMode`"),
        "{message}"
    );
    assert!(message.contains("did you mean `model`?"), "{message}");
    let message =
        err(json!({"backend": "local", "cwd": "/tmp", "state": {"kind": "file", "path": "/x"}}));
    assert!(
        message.contains("unknown key `path` in `state`"),
        "{message}"
    );
    assert!(message.contains("stateDir"), "{message}");
}

#[test]
fn the_backend_is_required_and_known() {
    assert!(err(json!({"baseUrl": "x"})).contains("needs `backend` (or `mode`)"));
    assert!(err(json!({"mode": "remote"})).contains("unknown flow client backend `remote`"));
    let both = err(json!({"backend": "local", "mode": "http", "cwd": "/tmp"}));
    assert!(
        both.contains("`backend` is `local` but `mode` is `http`"),
        "{both}"
    );
    assert!(err(json!(["http"])).contains("must be a JSON object"));
}

#[test]
fn seed_names_are_aliases() {
    let config = FlowClientConfig::from_value(json!({
        "mode": "http", "baseUrl": "https://f.example", "hmacSecret": "s", "bearerToken": "t"
    }))
    .unwrap();
    let FlowClientConfig::Http(http) = config else {
        panic!("not http")
    };
    assert_eq!(http.signing_secret.as_ref().map(|s| s.expose()), Some("s"));
    assert_eq!(http.token.as_ref().map(|s| s.expose()), Some("t"));

    let config = FlowClientConfig::from_value(json!({
        "mode": "local", "cwd": "/tmp/p", "state": {"kind": "file"}
    }))
    .unwrap();
    let FlowClientConfig::Local(local) = config else {
        panic!("not local")
    };
    assert_eq!(local.state, StateMode::Durable);
    let memory: LocalFlowClientConfig =
        serde_json::from_value(json!({"cwd": "/tmp", "state": {"kind": "memory"}})).unwrap();
    assert_eq!(memory.state, StateMode::Memory);
    let bad =
        serde_json::from_value::<LocalFlowClientConfig>(json!({"cwd": "/tmp", "state": "disk"}))
            .unwrap_err()
            .to_string();
    assert!(bad.contains("unknown state `disk`"), "{bad}");
}

#[test]
fn the_structs_alone_refuse_unknown_keys_too() {
    let e = serde_json::from_value::<HttpFlowClientConfig>(json!({
        "baseUrl": "https://f.example", "hmacSecrt": "s"
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `hmacSecrt`"), "{e}");
    let e = serde_json::from_value::<LocalFlowClientConfig>(
        json!({"cwd": "/tmp", "dispatchNxt": true}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `dispatchNxt`"), "{e}");
}

#[test]
fn a_written_configuration_reads_back() {
    let mut http = HttpFlowClientConfig::new("https://f.example/api");
    http.token = Some("t".into());
    http.signing_secret = Some("s".into());
    let config = FlowClientConfig::Http(http);
    let text = serde_json::to_value(&config).unwrap();
    assert_eq!(FlowClientConfig::from_value(text).unwrap(), config);
    let local = FlowClientConfig::Local(LocalFlowClientConfig::new("/tmp/p"));
    let text = serde_json::to_value(&local).unwrap();
    assert_eq!(FlowClientConfig::from_value(text).unwrap(), local);
}
