//! Output schemas for `ask_typed`: a schemars schema made strict-compatible (OpenAI structured
//! outputs): every object closed (`additionalProperties: false`) with every property required
//! (optional fields stay nullable), `$ref`s inlined from `$defs`, and keywords strict mode does
//! not accept removed.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The strict-compatible JSON Schema of `T`.
///
/// ```
/// #[derive(schemars::JsonSchema, serde::Deserialize)]
/// struct Answer { value: u32, note: Option<String> }
/// let s = codex_runtime::runtime::strict_output_schema::<Answer>();
/// assert_eq!(s["additionalProperties"], false);
/// let required = s["required"].as_array().unwrap();
/// assert!(required.contains(&"value".into()) && required.contains(&"note".into()));
/// ```
pub fn strict_output_schema<T: JsonSchema>() -> Value {
    strictify(schemars::schema_for!(T).to_value())
}

/// Makes any JSON Schema strict-compatible the same way [`strict_output_schema`] does: every
/// object closed with every property required, `$ref`s into `$defs`/`definitions` inlined, and
/// keywords strict mode refuses (`format`, `default`, bounds, examples) removed.
///
/// ```
/// let s = codex_runtime::runtime::strictify(serde_json::json!({
///     "type": "object",
///     "properties": {"a": {"type": "integer", "format": "int64"}}
/// }));
/// assert_eq!(s["required"], serde_json::json!(["a"]));
/// assert_eq!(s["additionalProperties"], false);
/// assert!(s["properties"]["a"].get("format").is_none());
/// ```
pub fn strictify(schema: Value) -> Value {
    let mut root = schema;
    let defs = root
        .as_object_mut()
        .and_then(|o| o.remove("$defs").or_else(|| o.remove("definitions")))
        .unwrap_or(Value::Object(Map::new()));
    let mut out = inline(root, &defs, 0);
    if let Some(o) = out.as_object_mut() {
        o.remove("$schema");
    }
    out
}

const DROPPED_KEYWORDS: &[&str] = &[
    "format", "$schema", "examples", "default", "minimum", "maximum",
];

fn inline(value: Value, defs: &Value, depth: usize) -> Value {
    match value {
        Value::Object(mut o) => {
            if let Some(Value::String(r)) = o.get("$ref").cloned() {
                let name = r.rsplit('/').next().unwrap_or("");
                if depth < 32 {
                    if let Some(target) = defs.get(name) {
                        o.remove("$ref");
                        let mut merged = match inline(target.clone(), defs, depth + 1) {
                            Value::Object(t) => t,
                            other => return other,
                        };
                        for (k, v) in o {
                            merged.entry(k).or_insert(v);
                        }
                        return Value::Object(merged);
                    }
                }
            }
            for k in DROPPED_KEYWORDS {
                o.remove(*k);
            }
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(k, inline(v, defs, depth));
            }
            let is_object = out.get("type") == Some(&Value::String("object".into()))
                || out.contains_key("properties");
            if is_object {
                let keys: Vec<Value> = out
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().map(Value::String).collect())
                    .unwrap_or_default();
                out.insert("required".into(), Value::Array(keys));
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|v| inline(v, defs, depth)).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Inner {
        n: u8,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Outer {
        name: String,
        inner: Inner,
        list: Vec<Inner>,
        maybe: Option<i64>,
    }

    #[test]
    fn objects_are_closed_refs_inlined_and_formats_dropped() {
        let s = strict_output_schema::<Outer>();
        let text = s.to_string();
        assert!(!text.contains("$ref"), "{text}");
        assert!(!text.contains("format"), "{text}");
        assert_eq!(s["properties"]["inner"]["additionalProperties"], false);
        assert_eq!(
            s["properties"]["inner"]["required"],
            serde_json::json!(["n"])
        );
        assert_eq!(
            s["properties"]["list"]["items"]["additionalProperties"],
            false
        );
        let req = s["required"].as_array().unwrap();
        assert_eq!(req.len(), 4);
    }
}
