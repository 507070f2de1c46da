//! Trigger payload schemas: compiled once with a real JSON Schema validator (draft 2020-12 or 7).

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{FlowError, Result};

/// Largest accepted schema file, 1 MiB.
pub const MAX_SCHEMA_BYTES: u64 = 1024 * 1024;
/// At most this many violations are reported per payload.
pub const MAX_REPORTED_VIOLATIONS: usize = 10;

/// The JSON Schema drafts accepted for trigger schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaDraft {
    /// Draft 2020-12 (the default when `$schema` is absent).
    Draft202012,
    /// Draft 7.
    Draft7,
}

/// A compiled trigger schema.
pub struct PayloadSchema {
    path: PathBuf,
    draft: SchemaDraft,
    validator: jsonschema::Validator,
}

impl fmt::Debug for PayloadSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadSchema")
            .field("path", &self.path)
            .field("draft", &self.draft)
            .finish_non_exhaustive()
    }
}

/// One reason a payload does not match a schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadViolation {
    /// JSON pointer into the payload (`""` is the payload itself).
    pub pointer: String,
    /// Why it does not validate.
    pub message: String,
}

impl fmt::Display for PayloadViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.message)
    }
}

impl PayloadSchema {
    /// Reads and compiles the schema file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| FlowError::Schema {
            path: path.to_path_buf(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_SCHEMA_BYTES {
            return Err(err(format!(
                "file is {} bytes, over the limit of {MAX_SCHEMA_BYTES}",
                meta.len()
            )));
        }
        let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let schema: Value =
            serde_json::from_slice(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        Self::compile(&schema, path)
    }

    /// Compiles a schema value; `path` is only used in messages.
    pub fn compile(schema: &Value, path: &Path) -> Result<Self> {
        let err = |message: String| FlowError::Schema {
            path: path.to_path_buf(),
            message,
        };
        let draft = match schema {
            Value::Bool(_) => SchemaDraft::Draft202012,
            Value::Object(map) => match map.get("$schema") {
                None => SchemaDraft::Draft202012,
                Some(Value::String(uri)) => draft_of(uri).ok_or_else(|| {
                    err(format!(
                        "unsupported $schema `{uri}`: use draft 2020-12 or draft 7"
                    ))
                })?,
                Some(_) => return Err(err("`$schema` must be a string".into())),
            },
            _ => return Err(err("a JSON Schema must be an object or a boolean".into())),
        };
        let jdraft = match draft {
            SchemaDraft::Draft202012 => jsonschema::Draft::Draft202012,
            SchemaDraft::Draft7 => jsonschema::Draft::Draft7,
        };
        let validator = jsonschema::options()
            .with_draft(jdraft)
            .build(schema)
            .map_err(|e| err(format!("invalid JSON Schema: {e}")))?;
        Ok(PayloadSchema {
            path: path.to_path_buf(),
            draft,
            validator,
        })
    }

    /// The schema file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The draft chosen from `$schema`.
    pub fn draft(&self) -> SchemaDraft {
        self.draft
    }

    /// Whether `payload` validates (the fast path used by matching).
    pub fn is_valid(&self, payload: &Value) -> bool {
        self.validator.is_valid(payload)
    }

    /// Validates `payload`, listing up to [`MAX_REPORTED_VIOLATIONS`] violations with their JSON
    /// pointers.
    pub fn check(&self, payload: &Value) -> std::result::Result<(), Vec<PayloadViolation>> {
        let violations: Vec<PayloadViolation> = self
            .validator
            .iter_errors(payload)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(|e| PayloadViolation {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

fn draft_of(uri: &str) -> Option<SchemaDraft> {
    let trimmed = uri.trim_end_matches('#');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))?;
    match rest {
        "json-schema.org/draft/2020-12/schema" => Some(SchemaDraft::Draft202012),
        "json-schema.org/draft-07/schema" => Some(SchemaDraft::Draft7),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_carry_pointer_and_reason() {
        let schema = PayloadSchema::compile(
            &json!({"type":"object","required":["repo"],"properties":{"tag":{"type":"string","pattern":"^rust-v"},"n":{"minimum":3}}}),
            Path::new("s.json"),
        )
        .unwrap();
        assert_eq!(schema.draft(), SchemaDraft::Draft202012);
        assert!(schema.is_valid(&json!({"repo":"a","tag":"rust-v1"})));
        let v = schema.check(&json!({"tag": "v1", "n": 1})).unwrap_err();
        assert!(
            v.iter()
                .any(|v| v.pointer.is_empty() && v.message.contains("repo")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| v.pointer == "/tag" && v.message.contains("rust-v")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| v.pointer == "/n" && v.to_string().starts_with("at /n:")),
            "{v:?}"
        );
    }

    #[test]
    fn draft_is_chosen_by_dollar_schema() {
        // `prefixItems` is a 2020-12 keyword; draft 7 ignores it.
        let body = json!({"prefixItems": [{"type": "string"}]});
        let mut d7 = body.clone();
        d7["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        let s7 = PayloadSchema::compile(&d7, Path::new("d7.json")).unwrap();
        assert_eq!(s7.draft(), SchemaDraft::Draft7);
        assert!(s7.is_valid(&json!([1])));
        let s2020 = PayloadSchema::compile(&body, Path::new("d.json")).unwrap();
        assert_eq!(s2020.draft(), SchemaDraft::Draft202012);
        assert!(!s2020.is_valid(&json!([1])));
        assert!(s2020.is_valid(&json!(["a"])));
        let err = PayloadSchema::compile(
            &json!({"$schema": "http://json-schema.org/draft-04/schema#"}),
            Path::new("d4.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("d4.json") && err.contains("unsupported $schema"),
            "{err}"
        );
        let err = PayloadSchema::compile(&json!({"type": 12}), Path::new("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json") && err.contains("invalid JSON Schema"),
            "{err}"
        );
    }
}
