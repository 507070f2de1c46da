//! Decoding a call's arguments into the tool's argument type, with the failing field named.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `args` into `T`. The error names the field that failed (`field \`a.b[0]\`: ...`);
/// a failure at the top level (a missing field, an unknown one) carries serde's own message,
/// which names the field.
pub(crate) fn decode<T: DeserializeOwned>(args: Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(args).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("field `{path}`: {inner}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::decode;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Args {
        id: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let err = decode::<Args>(json!({"id": "a", "inner": {"count": "x"}})).unwrap_err();
        assert!(err.starts_with("field `inner.count`:"), "{err}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = decode::<Args>(json!({"inner": {"count": 1}})).unwrap_err();
        assert!(err.contains("missing field `id`"), "{err}");
    }

    #[test]
    fn good_arguments_decode() {
        let a = decode::<Args>(json!({"id": "a", "inner": {"count": 2}})).unwrap();
        assert_eq!((a.id.as_str(), a.inner.count), ("a", 2));
    }
}
