//! The published JSON Schemas of `flow.toml` and `FLOW_RESULT`, derived with schemars and
//! committed under `schemas/flow/`.

use std::path::Path;

use serde_json::Value;

use crate::error::{FlowError, Result};
use crate::flow_result::FlowResult;
use crate::manifest::FlowManifest;

/// File name of the manifest schema.
pub const MANIFEST_SCHEMA_FILE: &str = "flow-manifest.schema.json";
/// File name of the FLOW_RESULT schema.
pub const RESULT_SCHEMA_FILE: &str = "flow-result.schema.json";

/// The JSON Schema (draft 2020-12) of `flow.toml`.
pub fn flow_manifest_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(FlowManifest)).unwrap_or(Value::Null)
}

/// The JSON Schema (draft 2020-12) of `FLOW_RESULT`.
pub fn flow_result_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(FlowResult)).unwrap_or(Value::Null);
    // `receivedAt` defaults to the time of intake: not a constant, so not a schema default.
    if let Some(received_at) = schema
        .pointer_mut("/$defs/FlowEvent/properties/receivedAt")
        .and_then(Value::as_object_mut)
    {
        received_at.remove("default");
    }
    schema
}

/// The committed text of a schema: pretty JSON and a final newline.
pub fn render_schema(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `(file name, rendered text)` of every published schema.
pub fn published_schemas() -> Vec<(&'static str, String)> {
    vec![
        (MANIFEST_SCHEMA_FILE, render_schema(&flow_manifest_schema())),
        (RESULT_SCHEMA_FILE, render_schema(&flow_result_schema())),
    ]
}

/// Writes every published schema into `dir`.
pub fn write_schemas(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FlowError::io(format!("cannot create {}", dir.display()), e))?;
    for (name, text) in published_schemas() {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| FlowError::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}
