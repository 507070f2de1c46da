//! Checking configuration keys: the key names a serde-derived struct accepts (aliases
//! included), read from its own `Deserialize` impl, and a "did you mean" for a key that is not
//! one of them.

use serde::de::{self, DeserializeOwned, Visitor};

/// The field names (and aliases) that `T`'s derived `Deserialize` accepts, as serde passes them
/// to `deserialize_struct`. Empty for a type that is not a struct.
pub(crate) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldGrabber(&mut found));
    found
}

/// A deserializer that records the field list of a struct and then fails.
struct FieldGrabber<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Grabbed;

impl std::fmt::Display for Grabbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Grabbed {}

impl de::Error for Grabbed {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Grabbed
    }
}

impl<'de> de::Deserializer<'de> for FieldGrabber<'_> {
    type Error = Grabbed;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Grabbed> {
        Err(Grabbed)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Grabbed> {
        *self.0 = fields;
        Err(Grabbed)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The known key closest to `unknown` (case, `_` and `-` ignored), when it is close enough to
/// be a likely typo or a differently spelled name.
pub(crate) fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(unknown);
    // A longer or shorter spelling of a key (`stateDirectory`, `timeout`) means that key.
    let stem = known
        .iter()
        .filter(|k| {
            let k = squash(k);
            k.len() >= 4 && wanted.len() >= 4 && (wanted.starts_with(&k) || k.starts_with(&wanted))
        })
        .max_by_key(|k| k.len());
    if let Some(stem) = stem {
        return Some(stem);
    }
    let (best, distance) = known
        .iter()
        .map(|k| (*k, levenshtein(&wanted, &squash(k))))
        .min_by_key(|(_, d)| *d)?;
    let limit = (wanted.len() / 3).max(2);
    (distance <= limit).then_some(best)
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Fails on the first key of `object` that is not in `known`, naming it, where it is (`what`),
/// and the closest known key.
pub(crate) fn check_keys(
    object: &serde_json::Map<String, serde_json::Value>,
    known: &[&str],
    what: &str,
) -> Result<(), String> {
    for key in object.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let mut message = format!("unknown key `{key}` in {what}");
        match did_you_mean(key, known) {
            Some(hint) => message.push_str(&format!("; did you mean `{hint}`?")),
            None => message.push_str(&format!("; known keys: {}", known.join(", "))),
        }
        return Err(message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        base_url: String,
        #[serde(alias = "bearerToken")]
        token: Option<String>,
    }

    #[test]
    fn field_names_include_aliases() {
        let names = field_names::<Sample>();
        assert!(names.contains(&"baseUrl"), "{names:?}");
        assert!(names.contains(&"token"), "{names:?}");
        assert!(names.contains(&"bearerToken"), "{names:?}");
        assert!(field_names::<String>().is_empty());
    }

    #[test]
    fn typos_and_other_spellings_find_their_key() {
        let known = ["baseUrl", "token", "signingSecret", "timeoutMs"];
        assert_eq!(did_you_mean("baseURL", &known), Some("baseUrl"));
        assert_eq!(did_you_mean("base_url", &known), Some("baseUrl"));
        assert_eq!(did_you_mean("signingSecrt", &known), Some("signingSecret"));
        assert_eq!(did_you_mean("timeout_ms", &known), Some("timeoutMs"));
        assert_eq!(did_you_mean("frobnicate", &known), None);
        assert_eq!(did_you_mean("timeout", &known), Some("timeoutMs"));
        assert_eq!(did_you_mean("baseUrlPath", &known), Some("baseUrl"));
    }

    #[test]
    fn check_keys_names_the_key_and_the_hint() {
        let object = serde_json::json!({"baseUrl": "x", "tokn": "y"});
        let err =
            check_keys(object.as_object().unwrap(), &["baseUrl", "token"], "here").unwrap_err();
        assert_eq!(err, "unknown key `tokn` in here; did you mean `token`?");
        let object = serde_json::json!({"zzzzzzzz": 1});
        let err = check_keys(object.as_object().unwrap(), &["baseUrl"], "here").unwrap_err();
        assert!(err.contains("known keys: baseUrl"), "{err}");
    }
}
