//! Every method of the committed schemas has a typed counterpart, and every params/result type
//! accepts a minimal instance of its schema.
mod common;

use codex_runtime_protocol::{
    client_method_info, notification_methods, reencode_client_params, reencode_client_response,
    rpc_methods, server_request_methods, ServerNotification, ServerRequest,
};
use common::{methods, minimal, raw, schema};

#[test]
fn every_stable_client_method_is_typed() {
    let file = schema("stable/ClientRequest.json");
    let list = methods(&file);
    assert_eq!(list.len(), 110, "stable client methods of codex 0.171.0");
    for (method, params) in list {
        let info = client_method_info(&method)
            .unwrap_or_else(|| panic!("no typed client method {method}"));
        assert_eq!(info.method, method);
        assert!(!info.experimental, "{method} is stable");
        if let Some(params) = params {
            assert_eq!(info.params, params, "params type of {method}");
        }
        assert!(
            rpc_methods::ALL.contains(&method.as_str()),
            "{method} missing from rpc_methods::ALL"
        );
    }
}

#[test]
fn experimental_client_methods_follow_the_feature() {
    let stable: Vec<String> = methods(&schema("stable/ClientRequest.json"))
        .into_iter()
        .map(|m| m.0)
        .collect();
    let all = methods(&schema("experimental/ClientRequest.json"));
    assert_eq!(
        all.len(),
        189,
        "experimental client methods of codex 0.171.0"
    );
    let mut experimental_only = 0;
    for (method, _) in &all {
        if stable.contains(method) {
            continue;
        }
        experimental_only += 1;
        let info = client_method_info(method);
        if cfg!(feature = "experimental") {
            let info = info.unwrap_or_else(|| panic!("no typed experimental method {method}"));
            assert!(info.experimental, "{method} is experimental");
            assert!(rpc_methods::ALL.contains(&method.as_str()));
        } else {
            assert!(
                info.is_none(),
                "{method} must need the `experimental` feature"
            );
            assert!(!rpc_methods::ALL.contains(&method.as_str()));
        }
    }
    assert_eq!(experimental_only, 79);
    let expected_len = if cfg!(feature = "experimental") {
        189
    } else {
        110
    };
    assert_eq!(rpc_methods::ALL.len(), expected_len);
}

/// Client params and results: a minimal instance of the schema decodes and re-encodes.
#[test]
fn client_params_and_results_accept_minimal_instances() {
    let bundle = schema("experimental/codex_app_server_protocol.schemas.json");
    let file = schema("experimental/ClientRequest.json");
    let mut checked = 0;
    for (method, schema_params) in methods(&file) {
        let Some(info) = client_method_info(&method) else {
            continue;
        };
        // Methods sharing a params type get a generated newtype that is not in the bundle:
        // look the schema's own params type up instead.
        let params_name = schema_params.as_deref().unwrap_or(info.params);
        for (type_name, is_params) in [(params_name, true), (info.response, false)] {
            let Some(def) = bundle["definitions"]
                .get(type_name)
                .or_else(|| bundle["definitions"]["v2"].get(type_name))
            else {
                // Generated empty params of a method that takes none.
                assert!(is_params, "{type_name} of {method} is not in the bundle");
                let out = reencode_client_params(&method, &raw(&serde_json::json!({})))
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    out,
                    serde_json::json!({}),
                    "{method} empty params serialize to {{}}"
                );
                continue;
            };
            let instance = minimal(&bundle, def, 0);
            let out = if is_params {
                reencode_client_params(&method, &raw(&instance))
            } else {
                reencode_client_response(&method, &raw(&instance))
            };
            let out = out.unwrap_or_else(|| panic!("{method} unknown"));
            if let Err(e) = out {
                panic!("{type_name} of {method} rejects the minimal instance {instance}: {e}");
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "checked {checked}");
}

#[test]
fn every_notification_is_typed() {
    let file = schema("experimental/ServerNotification.json");
    let stable = methods(&schema("stable/ServerNotification.json"));
    assert_eq!(stable.len(), 87);
    for (method, params) in methods(&file) {
        let params = params.unwrap_or_else(|| panic!("{method} has no params type"));
        let instance = minimal(&file, &file["definitions"][&params], 0);
        let note = ServerNotification::decode(&method, &raw(&instance))
            .unwrap_or_else(|e| panic!("{method}: minimal {params} {instance} rejected: {e}"));
        assert!(
            !matches!(note, ServerNotification::Unknown { .. }),
            "{method} decoded as Unknown"
        );
        assert_eq!(note.method(), method);
        assert!(notification_methods::ALL.contains(&method.as_str()));
    }
    for (method, _) in stable {
        assert!(
            notification_methods::ALL.contains(&method.as_str()),
            "{method}"
        );
    }
}

#[test]
fn every_server_request_is_typed() {
    let file = schema("experimental/ServerRequest.json");
    assert_eq!(methods(&schema("stable/ServerRequest.json")).len(), 10);
    for (method, params) in methods(&file) {
        let params = params.unwrap_or_else(|| panic!("{method} has no params type"));
        let instance = minimal(&file, &file["definitions"][&params], 0);
        let req = ServerRequest::decode(&method, &raw(&instance))
            .unwrap_or_else(|e| panic!("{method}: minimal {params} {instance} rejected: {e}"));
        assert!(
            !matches!(req, ServerRequest::Unknown { .. }),
            "{method} decoded as Unknown"
        );
        assert_eq!(req.method(), method);
        assert!(server_request_methods::ALL.contains(&method.as_str()));
    }
}
