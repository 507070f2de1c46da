//! Shared helpers of the integration tests: the committed schemas, minimal schema instances and
//! JSON comparison up to absent-vs-null.
#![allow(dead_code)]

use serde_json::{Map, Value};

/// Reads a file under the workspace's `schemas/` directory.
pub fn schema(rel: &str) -> Value {
    let path = format!("{}/../../schemas/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(method, params $ref name or None)` of every branch of a ClientRequest/ServerNotification/
/// ServerRequest schema.
pub fn methods(file: &Value) -> Vec<(String, Option<String>)> {
    file["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|b| {
            let method = b["properties"]["method"]["enum"][0]
                .as_str()
                .expect("method")
                .to_owned();
            let params = &b["properties"]["params"];
            let reference = params["$ref"].as_str().or_else(|| {
                params["anyOf"]
                    .as_array()
                    .and_then(|a| a.iter().find_map(|x| x["$ref"].as_str()))
            });
            (
                method,
                reference.map(|r| r.rsplit('/').next().unwrap_or(r).to_owned()),
            )
        })
        .collect()
}

/// Resolves a `#/a/b/c` JSON pointer reference inside `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    root.pointer(reference.trim_start_matches('#'))
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

/// A minimal JSON instance of `schema`: required properties only, first enum value, first
/// non-null branch of a union.
pub fn minimal(root: &Value, schema: &Value, depth: usize) -> Value {
    assert!(depth < 40, "schema recursion too deep");
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return minimal(root, resolve(root, r), depth + 1);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let branch = branches
                .iter()
                .find(|b| b.get("type") != Some(&Value::from("null")))
                .unwrap_or(&branches[0]);
            let mut v = minimal(root, branch, depth + 1);
            // Shared properties next to a oneOf (e.g. `HookMetadata`).
            if schema.get("properties").is_some() {
                if let (Value::Object(into), Value::Object(extra)) =
                    (&mut v, object_instance(root, schema, depth))
                {
                    into.extend(extra);
                }
            }
            return v;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values[0].clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => {
            return if schema.get("properties").is_some() {
                object_instance(root, schema, depth)
            } else {
                Value::Null
            }
        }
    };
    match ty {
        "string" => Value::from("x"),
        "integer" => Value::from(0),
        "number" => Value::from(0.5),
        "boolean" => Value::from(false),
        "array" => Value::Array(vec![]),
        "object" => object_instance(root, schema, depth),
        _ => Value::Null,
    }
}

fn object_instance(root: &Value, schema: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    let props = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().expect("required name");
        let prop = props
            .and_then(|p| p.get(name))
            .unwrap_or(&Value::Bool(true));
        out.insert(name.to_owned(), minimal(root, prop, depth + 1));
    }
    Value::Object(out)
}

/// Drops nulls from objects and turns every number into f64, so that two encodings that differ
/// only by absent-vs-null (or `1` vs `1.0`) compare equal.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

/// Asserts `a == b` up to absent-vs-null, reporting the first differing path.
pub fn assert_same(context: &str, original: &Value, reencoded: &Value) {
    let (a, b) = (normalize(original), normalize(reencoded));
    if a != b {
        panic!(
            "{context}: re-encoding differs at {}\noriginal:  {a}\nreencoded: {b}",
            first_diff(&a, &b, String::new())
        );
    }
}

fn first_diff(a: &Value, b: &Value, path: String) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) if p == q => {}
                    (Some(p), Some(q)) => return first_diff(p, q, format!("{path}/{k}")),
                    (Some(_), None) => return format!("{path}/{k} (dropped)"),
                    (None, _) => return format!("{path}/{k} (added)"),
                }
            }
            path
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return first_diff(p, q, format!("{path}/{i}"));
                }
            }
            path
        }
        _ => path,
    }
}

/// A `RawValue` holding `v`.
pub fn raw(v: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(v).expect("to_raw_value")
}
