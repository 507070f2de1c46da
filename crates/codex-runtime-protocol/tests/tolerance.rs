//! A newer codex must not break decoding: unknown methods, tags, enum strings and fields decode.
mod common;

use codex_runtime_protocol::{
    AskForApproval, CommandExecParams, ItemStartedNotification, RequestId, SandboxPolicy,
    ServerNotification, ServerRequest, ThreadItem, ThreadStatus, TurnStatus, UserInput,
};
use common::raw;
use serde_json::json;

#[test]
fn unknown_notification_method_keeps_method_and_params() {
    let params = json!({"threadId": "t", "x": [1, 2]});
    let note = ServerNotification::decode("thread/somethingNew", &raw(&params)).unwrap();
    assert_eq!(
        note,
        ServerNotification::Unknown {
            method: "thread/somethingNew".into(),
            params: params.clone()
        }
    );
    assert_eq!(note.method(), "thread/somethingNew");
    assert_eq!(
        serde_json::to_value(&note).unwrap(),
        json!({"method": "thread/somethingNew", "params": params})
    );
    let req = ServerRequest::decode("item/new/requestApproval", &raw(&json!({}))).unwrap();
    assert!(
        matches!(req, ServerRequest::Unknown { ref method, .. } if method == "item/new/requestApproval")
    );
}

#[test]
fn unknown_thread_item_type_keeps_the_raw_object() {
    let item = json!({"type": "hologram", "id": "i1", "depth": 3});
    let decoded: ThreadItem = serde_json::from_value(item.clone()).unwrap();
    assert_eq!(decoded, ThreadItem::Unknown(item.clone()));
    assert_eq!(serde_json::to_value(&decoded).unwrap(), item);

    // Inside a notification, from text, with the tag not first (the buffered path).
    let params = json!({"threadId": "t", "turnId": "u", "startedAtMs": 1,
                        "item": {"id": "i1", "type": "hologram"}});
    let note = ServerNotification::decode("item/started", &raw(&params)).unwrap();
    let ServerNotification::ItemStarted(started) = &note else {
        panic!("expected ItemStarted, got {note:?}");
    };
    let ItemStartedNotification { item, .. } = started.as_ref();
    assert_eq!(
        item,
        &ThreadItem::Unknown(json!({"id": "i1", "type": "hologram"}))
    );
    assert_eq!(note.thread_id(), Some("t"));
    assert_eq!(note.turn_id(), Some("u"));
}

#[test]
fn known_thread_item_decodes_whatever_the_key_order() {
    let tag_first = r#"{"type":"agentMessage","id":"m","text":"hi"}"#;
    let tag_last = r#"{"id":"m","text":"hi","type":"agentMessage"}"#;
    for text in [tag_first, tag_last] {
        let item: ThreadItem = serde_json::from_str(text).unwrap();
        let ThreadItem::AgentMessage(m) = &item else {
            panic!("{item:?}")
        };
        assert_eq!((m.id.as_str(), m.text.as_str()), ("m", "hi"));
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"type": "agentMessage", "id": "m", "text": "hi"})
        );
    }
}

#[test]
fn bad_variant_payload_is_an_error_naming_the_variant_and_field() {
    let err =
        serde_json::from_str::<ThreadItem>(r#"{"type":"agentMessage","id":"m"}"#).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ThreadItem `agentMessage`") && msg.contains("text"),
        "{msg}"
    );
    let err = serde_json::from_str::<ThreadItem>(r#"{"id":"m"}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `type`"), "{err}");
    let err = serde_json::from_str::<ThreadItem>(r#""agentMessage""#).unwrap_err();
    assert!(err.to_string().contains("ThreadItem"), "{err}");
}

#[test]
fn unknown_enum_string_decodes_and_round_trips() {
    let s: TurnStatus = serde_json::from_value(json!("teleported")).unwrap();
    assert_eq!(s, TurnStatus::Unknown("teleported".into()));
    assert_eq!(s.as_str(), "teleported");
    assert_eq!(serde_json::to_value(&s).unwrap(), json!("teleported"));
    let known: TurnStatus = serde_json::from_value(json!("completed")).unwrap();
    assert_eq!(known, TurnStatus::Completed);
    assert_eq!(known.to_string(), "completed");
}

#[test]
fn unknown_extra_fields_are_ignored() {
    let v = json!({"type": "text", "text": "hi", "brandNewField": {"a": 1}});
    let input: UserInput = serde_json::from_value(v).unwrap();
    let UserInput::Text(t) = &input else {
        panic!("{input:?}")
    };
    assert_eq!(t.text, "hi");
    let params = json!({"threadId": "t", "status": {"type": "idle"}, "newField": true});
    let note = ServerNotification::decode("thread/status/changed", &raw(&params)).unwrap();
    assert!(
        matches!(note, ServerNotification::ThreadStatusChanged(_)),
        "{note:?}"
    );
    let status: ThreadStatus = serde_json::from_value(json!({"type": "idle", "since": 5})).unwrap();
    assert_eq!(status, ThreadStatus::Idle);
}

#[test]
fn unit_and_string_or_object_unions() {
    let p: SandboxPolicy = serde_json::from_value(json!({"type": "dangerFullAccess"})).unwrap();
    assert_eq!(p, SandboxPolicy::DangerFullAccess);
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"type": "dangerFullAccess"})
    );
    let a: AskForApproval = serde_json::from_value(json!("on-request")).unwrap();
    assert_eq!(a, AskForApproval::OnRequest);
    assert_eq!(serde_json::to_value(&a).unwrap(), json!("on-request"));
    let g =
        json!({"granular": {"mcp_elicitations": true, "rules": false, "sandbox_approval": true}});
    let a: AskForApproval = serde_json::from_value(g.clone()).unwrap();
    assert!(matches!(a, AskForApproval::Granular(_)), "{a:?}");
    assert_eq!(serde_json::to_value(&a).unwrap(), g);
    let odd: AskForApproval = serde_json::from_value(json!("sometimes")).unwrap();
    assert_eq!(odd, AskForApproval::Unknown(json!("sometimes")));
}

#[test]
fn params_structs_are_defaultable_and_skip_none() {
    let p = CommandExecParams {
        command: vec!["echo".into(), "hi".into()],
        cwd: Some("/work".into()),
        ..CommandExecParams::default()
    };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"command": ["echo", "hi"], "cwd": "/work"})
    );
}

#[test]
fn request_ids_keep_integer_and_string_apart() {
    let a: RequestId = serde_json::from_value(json!(1)).unwrap();
    let b: RequestId = serde_json::from_value(json!("1")).unwrap();
    assert_eq!(a, RequestId::Integer(1));
    assert_eq!(b, RequestId::String("1".into()));
    assert_ne!(a, b);
    assert_eq!(
        (a.to_string(), b.to_string()),
        ("1".to_owned(), "1".to_owned())
    );
    assert_eq!(serde_json::to_value(&a).unwrap(), json!(1));
    assert_eq!(serde_json::to_value(&b).unwrap(), json!("1"));
    assert_eq!(RequestId::from(7), RequestId::Integer(7));
    assert_eq!(RequestId::from("x"), RequestId::String("x".into()));
    assert!(serde_json::from_value::<RequestId>(json!(1.5)).is_err());
    assert!(serde_json::from_value::<RequestId>(json!(null)).is_err());
}

/// `AgentMessageModeration.display` changed shape in 0.171.0 (struct -> union on `mode`): both
/// shapes decode the whole item; only the drifted field falls back to raw JSON.
#[test]
fn a_drifted_display_shape_degrades_to_raw_for_that_field_only() {
    use codex_runtime_protocol::{AgentMessageDisplay, MaybeTyped, ThreadItem};
    let item = |display: serde_json::Value| {
        serde_json::json!({
            "type": "agentMessage", "id": "m1", "text": "hi",
            "moderation": {"moderated": true, "display": display}
        })
    };
    let decode = |v: serde_json::Value| -> MaybeTyped<AgentMessageDisplay> {
        match serde_json::from_value::<ThreadItem>(v).unwrap() {
            ThreadItem::AgentMessage(m) => {
                assert_eq!(m.text, "hi");
                m.moderation.unwrap().display.unwrap()
            }
            other => panic!("{other:?}"),
        }
    };
    let new = decode(item(serde_json::json!(
        {"mode": "hide", "version": 1, "replacement": {"kind": "wellbeingPromptHelpline"}}
    )));
    assert!(matches!(new.typed(), Some(AgentMessageDisplay::Hide(_))));
    let old_json = serde_json::json!({"action": "block", "blockType": "cyber"});
    let old = decode(item(old_json.clone()));
    assert_eq!(old.raw(), Some(&old_json));
    assert!(old.decode_error().unwrap().contains("mode"));
    // Re-encoding keeps the raw JSON as it came.
    assert_eq!(serde_json::to_value(&old).unwrap(), old_json);
    // A block display with a malformed reason is raw too, not an error of the item.
    let bad = decode(item(serde_json::json!({"mode": "block", "version": 1})));
    assert!(bad.typed().is_none());
    assert!(bad.decode_error().unwrap().contains("reason"), "{bad:?}");
}
