//! The committed `schemas/flow/*.json` must equal what schemars derives now.
//! Rewrite them with `CODEX_FLOW_UPDATE_SCHEMAS=1 cargo test -p codex-flow --test schemas`.

use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/flow")
}

#[test]
fn committed_schemas_match_the_derived_ones() {
    let dir = schema_dir();
    if std::env::var("CODEX_FLOW_UPDATE_SCHEMAS").as_deref() == Ok("1") {
        codex_flow::schemas::write_schemas(&dir).unwrap();
    }
    for (name, derived) in codex_flow::schemas::published_schemas() {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run CODEX_FLOW_UPDATE_SCHEMAS=1 cargo test -p codex-flow --test schemas",
                path.display()
            )
        });
        assert!(
            committed == derived,
            "{} differs from the schemars derivation; run CODEX_FLOW_UPDATE_SCHEMAS=1 cargo test -p codex-flow --test schemas",
            path.display()
        );
    }
}

#[test]
fn published_schemas_accept_the_examples() {
    let manifest_schema = codex_flow::schemas::flow_manifest_schema();
    let validator = jsonschema::validator_for(&manifest_schema).unwrap();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let manifest = entry.unwrap().path().join("flow.toml");
        if !manifest.is_file() {
            continue;
        }
        let value: serde_json::Value =
            toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", manifest.display());
        checked += 1;
    }
    assert_eq!(checked, 2);
    let result_schema = codex_flow::schemas::flow_result_schema();
    let validator = jsonschema::validator_for(&result_schema).unwrap();
    assert!(
        validator.is_valid(&serde_json::json!({"status": "blocked", "message": "m", "extra": 1}))
    );
    assert!(!validator.is_valid(&serde_json::json!({"status": "great"})));
    assert!(!validator.is_valid(&serde_json::json!({"message": "no status"})));
}
