//! [`instance_from_schema`]: a minimal JSON value that satisfies a JSON Schema.

use serde_json::{Map, Value};

use crate::MockError;

/// Deepest `$ref`/nesting level followed before giving up (guards against recursive schemas).
const MAX_DEPTH: usize = 64;
/// Largest `minItems` honoured (an instance needs that many items).
const MAX_MIN_ITEMS: u64 = 1024;
/// Largest `minLength` honoured.
const MAX_MIN_LENGTH: u64 = 65_536;

/// Builds a minimal instance of `schema`: objects carry every required property (strict output
/// schemas list every property as required), strings are empty (or padded to `minLength`, or a sample for a known `format`), numbers are 0
/// (or their minimum), booleans `false`, enums and `const` take their first value, arrays hold
/// `minItems` items, `anyOf`/`oneOf` take the first non-null branch, `allOf` merges its
/// branches, and local `$ref`s (`#/...`) are resolved within `schema`.
///
/// ```
/// use codex_mock_model::instance_from_schema;
/// use serde_json::json;
/// let schema = json!({"type":"object","properties":{"n":{"type":"integer","minimum":3},
///     "tags":{"type":"array","items":{"$ref":"#/$defs/tag"},"minItems":1}},
///     "required":["n","tags"],"$defs":{"tag":{"enum":["a","b"]}}});
/// assert_eq!(instance_from_schema(&schema)?, json!({"n":3,"tags":["a"]}));
/// # Ok::<(), codex_mock_model::MockError>(())
/// ```
pub fn instance_from_schema(schema: &Value) -> Result<Value, MockError> {
    Builder { root: schema }.build(schema, "", 0)
}

struct Builder<'a> {
    root: &'a Value,
}

impl<'a> Builder<'a> {
    fn build(&self, node: &'a Value, pointer: &str, depth: usize) -> Result<Value, MockError> {
        if depth > MAX_DEPTH {
            return Err(error(
                pointer,
                "schema nests (or recurses through $ref) too deeply",
            ));
        }
        let obj = match node {
            Value::Bool(true) => return Ok(Value::Null),
            Value::Bool(false) => return Err(error(pointer, "the schema `false` accepts nothing")),
            Value::Object(obj) => obj,
            other => {
                return Err(error(
                    pointer,
                    &format!("expected a schema object, found {other}"),
                ))
            }
        };
        if let Some(reference) = obj.get("$ref") {
            let Some(reference) = reference.as_str() else {
                return Err(error(pointer, "$ref is not a string"));
            };
            let target = self.resolve(reference, pointer)?;
            return self.build(target, reference.trim_start_matches('#'), depth + 1);
        }
        if let Some(value) = obj.get("const") {
            return Ok(value.clone());
        }
        if let Some(values) = obj.get("enum") {
            return match values.as_array().and_then(|values| values.first()) {
                Some(first) => Ok(first.clone()),
                None => Err(error(pointer, "enum is not a non-empty array")),
            };
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(keyword) {
                let Some(branches) = branches.as_array().filter(|b| !b.is_empty()) else {
                    return Err(error(
                        pointer,
                        &format!("{keyword} is not a non-empty array"),
                    ));
                };
                let chosen = branches
                    .iter()
                    .position(|branch| branch.get("type").and_then(Value::as_str) != Some("null"))
                    .unwrap_or(0);
                return self.build(
                    &branches[chosen],
                    &format!("{pointer}/{keyword}/{chosen}"),
                    depth + 1,
                );
            }
        }
        if let Some(branches) = obj.get("allOf") {
            let Some(branches) = branches.as_array() else {
                return Err(error(pointer, "allOf is not an array"));
            };
            let mut merged = Map::new();
            for (index, branch) in branches.iter().enumerate() {
                match self.build(branch, &format!("{pointer}/allOf/{index}"), depth + 1)? {
                    Value::Object(part) => merged.extend(part),
                    other if branches.len() == 1 => return Ok(other),
                    _ => {
                        return Err(error(
                            pointer,
                            "allOf of non-object schemas is not supported",
                        ))
                    }
                }
            }
            return Ok(Value::Object(merged));
        }
        match self.type_of(obj, pointer)? {
            "object" => self.object(obj, pointer, depth),
            "array" => self.array(obj, pointer, depth),
            "string" => string(obj, pointer).map(Value::String),
            "integer" => Ok(number(obj, true)),
            "number" => Ok(number(obj, false)),
            "boolean" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            other => Err(error(pointer, &format!("unknown type {other:?}"))),
        }
    }

    fn type_of(&self, obj: &'a Map<String, Value>, pointer: &str) -> Result<&'a str, MockError> {
        match obj.get("type") {
            Some(Value::String(ty)) => Ok(ty),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|ty| *ty != "null")
                .or_else(|| types.iter().find_map(Value::as_str))
                .ok_or_else(|| error(pointer, "type is an array without a type name")),
            Some(other) => Err(error(
                pointer,
                &format!("type is neither a string nor an array: {other}"),
            )),
            None if obj.contains_key("properties") => Ok("object"),
            None if obj.contains_key("items") => Ok("array"),
            // No constraint at all: anything goes; null is the smallest instance.
            None => Ok("null"),
        }
    }

    fn object(
        &self,
        obj: &'a Map<String, Value>,
        pointer: &str,
        depth: usize,
    ) -> Result<Value, MockError> {
        let empty = Map::new();
        let properties = match obj.get("properties") {
            None => &empty,
            Some(Value::Object(properties)) => properties,
            Some(_) => return Err(error(pointer, "properties is not an object")),
        };
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(error(pointer, "required is not an array")),
        };
        let mut out = Map::new();
        for name in required {
            let Some(property) = properties.get(name) else {
                if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                    return Err(error(
                        pointer,
                        &format!("property {name:?} is required but not declared and additionalProperties is false"),
                    ));
                }
                out.insert(name.to_owned(), Value::Null);
                continue;
            };
            let child = format!("{pointer}/properties/{}", escape_pointer(name));
            out.insert(name.to_owned(), self.build(property, &child, depth + 1)?);
        }
        Ok(Value::Object(out))
    }

    fn array(
        &self,
        obj: &'a Map<String, Value>,
        pointer: &str,
        depth: usize,
    ) -> Result<Value, MockError> {
        let min_items = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        if min_items > MAX_MIN_ITEMS {
            return Err(error(
                pointer,
                &format!("minItems {min_items} exceeds {MAX_MIN_ITEMS}"),
            ));
        }
        if min_items == 0 {
            return Ok(Value::Array(Vec::new()));
        }
        let Some(items) = obj.get("items") else {
            return Ok(Value::Array(vec![
                Value::Null;
                usize::try_from(min_items).unwrap_or(0)
            ]));
        };
        let item = self.build(items, &format!("{pointer}/items"), depth + 1)?;
        Ok(Value::Array(vec![
            item;
            usize::try_from(min_items).unwrap_or(0)
        ]))
    }

    fn resolve(&self, reference: &str, pointer: &str) -> Result<&'a Value, MockError> {
        let Some(path) = reference.strip_prefix('#') else {
            return Err(error(
                pointer,
                &format!("only local $refs (#/...) are supported, found {reference:?}"),
            ));
        };
        self.root.pointer(path).ok_or_else(|| {
            error(
                pointer,
                &format!("$ref {reference:?} points nowhere in the schema"),
            )
        })
    }
}

fn string(obj: &Map<String, Value>, pointer: &str) -> Result<String, MockError> {
    let sample = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => "1970-01-01T00:00:00Z",
        Some("date") => "1970-01-01",
        Some("time") => "00:00:00Z",
        Some("email") => "mock@example.com",
        Some("uri") | Some("url") => "http://example.com/",
        Some("uuid") => "00000000-0000-0000-0000-000000000000",
        _ => "",
    };
    let min_len = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    if min_len > MAX_MIN_LENGTH {
        return Err(error(
            pointer,
            &format!("minLength {min_len} exceeds {MAX_MIN_LENGTH}"),
        ));
    }
    let mut out = sample.to_owned();
    while (out.chars().count() as u64) < min_len {
        out.push('x');
    }
    Ok(out)
}

fn number(obj: &Map<String, Value>, integer: bool) -> Value {
    let minimum = obj.get("minimum").and_then(Value::as_f64);
    let exclusive = obj.get("exclusiveMinimum").and_then(Value::as_f64);
    let maximum = obj.get("maximum").and_then(Value::as_f64);
    let mut value = match (minimum, exclusive) {
        (_, Some(ex)) => {
            if integer {
                ex.floor() + 1.0
            } else {
                ex + 1.0
            }
        }
        (Some(min), None) => {
            if integer {
                min.ceil()
            } else {
                min
            }
        }
        (None, None) => 0.0,
    };
    if let Some(max) = maximum {
        if value > max && minimum.is_none() && exclusive.is_none() {
            value = if integer { max.floor() } else { max };
        }
    }
    if integer {
        // Values beyond i64 cannot be produced exactly; clamp instead of panicking.
        let clamped = value.clamp(i64::MIN as f64, i64::MAX as f64);
        Value::from(clamped as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::from(0), Value::Number)
    }
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn error(pointer: &str, reason: &str) -> MockError {
    MockError::Schema {
        pointer: if pointer.is_empty() {
            "/".to_owned()
        } else {
            pointer.to_owned()
        },
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_take_their_smallest_valid_value() {
        assert_eq!(
            instance_from_schema(&json!({"type": "string"})).unwrap(),
            json!("")
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "string", "minLength": 3})).unwrap(),
            json!("xxx")
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "integer", "exclusiveMinimum": 4})).unwrap(),
            json!(5)
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "number", "minimum": 2.5})).unwrap(),
            json!(2.5)
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "integer", "maximum": -3})).unwrap(),
            json!(-3)
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "boolean"})).unwrap(),
            json!(false)
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "null"})).unwrap(),
            json!(null)
        );
        assert_eq!(
            instance_from_schema(&json!({"const": {"a": 1}})).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            instance_from_schema(&json!({"type": "string", "format": "uuid"})).unwrap(),
            json!("00000000-0000-0000-0000-000000000000")
        );
    }

    #[test]
    fn only_required_properties_are_filled() {
        let schema = json!({"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["b"]});
        assert_eq!(instance_from_schema(&schema).unwrap(), json!({"b": 0}));
    }

    #[test]
    fn all_of_merges_object_branches() {
        let schema = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"enum": ["z"]}}, "required": ["b"]}
        ]});
        assert_eq!(
            instance_from_schema(&schema).unwrap(),
            json!({"a": 0, "b": "z"})
        );
    }

    #[test]
    fn definitions_refs_resolve() {
        let schema = json!({"$ref": "#/definitions/Root", "definitions": {
            "Root": {"type": "object", "properties": {"leaf": {"$ref": "#/definitions/Leaf"}}, "required": ["leaf"]},
            "Leaf": {"type": "array", "minItems": 2, "items": {"type": "integer", "minimum": 7}}
        }});
        assert_eq!(
            instance_from_schema(&schema).unwrap(),
            json!({"leaf": [7, 7]})
        );
    }

    #[test]
    fn errors_name_the_offending_node() {
        let dangling = json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}, "required": ["x"]});
        let err = instance_from_schema(&dangling).unwrap_err();
        assert!(err.to_string().contains("/properties/x"), "{err}");
        assert!(err.to_string().contains("points nowhere"), "{err}");

        let remote = json!({"$ref": "http://example.com/schema.json"});
        assert!(instance_from_schema(&remote)
            .unwrap_err()
            .to_string()
            .contains("only local $refs"));

        let bad_type =
            json!({"type": "object", "properties": {"a": {"type": "float"}}, "required": ["a"]});
        let err = instance_from_schema(&bad_type).unwrap_err();
        assert!(
            err.to_string().contains("/properties/a") && err.to_string().contains("\"float\""),
            "{err}"
        );

        let undeclared = json!({"type": "object", "properties": {}, "required": ["a"], "additionalProperties": false});
        assert!(instance_from_schema(&undeclared)
            .unwrap_err()
            .to_string()
            .contains("not declared"));

        assert!(instance_from_schema(&json!({"enum": []})).is_err());
        let huge = json!({"type": "string", "minLength": 1_000_000});
        assert!(instance_from_schema(&huge)
            .unwrap_err()
            .to_string()
            .contains("minLength"));
        assert!(instance_from_schema(&json!(false)).is_err());
    }

    #[test]
    fn recursive_required_refs_fail_instead_of_overflowing() {
        let schema = json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/node"}}, "required": ["next"]}}});
        let err = instance_from_schema(&schema).unwrap_err();
        assert!(err.to_string().contains("too deeply"), "{err}");
    }

    #[test]
    fn optional_recursion_terminates() {
        let schema = json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["children"]}}});
        assert_eq!(
            instance_from_schema(&schema).unwrap(),
            json!({"children": []})
        );
    }
}
