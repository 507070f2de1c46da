//! [`RedactedUrl`]: a database URL that never shows its password, and the small parsers of the
//! two PostgreSQL connection-string forms (URL and `key=value`) that redaction and the TLS
//! settings share.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Connection parameters whose value is a secret: hidden wherever they appear (URL query or
/// `key=value` form), compared without regard to case.
const SECRET_KEYS: &[&str] = &["password", "sslpassword", "passfile", "sslkey"];

/// What a hidden value is shown as.
const HIDDEN: &str = "***";

fn is_secret(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// A database URL (`postgres://user:password@host/db` or a `key=value` connection string).
///
/// `Debug` and `Display` print it with every secret replaced by `***`: the password of the
/// userinfo (`user:password@`), and the values of `password`, `sslpassword`, `passfile` and
/// `sslkey`, whether given as URL query parameters (`?password=…`) or in the `key=value` form
/// (quoted values included: `password='a b'`). Only [`RedactedUrl::expose`] returns the real
/// string, for the driver.
#[derive(Clone)]
pub struct RedactedUrl {
    secret: SecretString,
    shown: String,
}

impl RedactedUrl {
    /// Wraps `url`.
    pub fn new(url: &str) -> Self {
        RedactedUrl {
            secret: SecretString::from(url.to_owned()),
            shown: redact(url),
        }
    }

    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({})", self.shown)
    }
}

/// One `key=value` pair of the keyword form, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvPair {
    /// The keyword.
    pub key: String,
    /// The value, unquoted and unescaped.
    pub value: String,
}

/// Splits a `key=value` connection string (libpq's keyword form: spaces around `=` allowed,
/// values optionally single-quoted with `\'` and `\\` escapes). `None` when it does not parse.
pub(crate) fn parse_kv(raw: &str) -> Option<Vec<KvPair>> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\'' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        out.push(KvPair { key, value });
    }
}

/// Writes `pairs` back as a `key=value` string (values quoted when needed).
pub(crate) fn write_kv(pairs: &[KvPair]) -> String {
    pairs
        .iter()
        .map(|p| {
            let plain = !p.value.is_empty()
                && !p
                    .value
                    .chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
            if plain {
                format!("{}={}", p.key, p.value)
            } else {
                let escaped = p.value.replace('\\', "\\\\").replace('\'', "\\'");
                format!("{}='{escaped}'", p.key)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn redact(raw: &str) -> String {
    if raw.contains("://") {
        return match url::Url::parse(raw) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    // Cannot fail: a URL that has a password can hold another one.
                    let _ = parsed.set_password(Some(HIDDEN));
                }
                if parsed.query().is_some() {
                    let pairs: Vec<(String, String)> = parsed
                        .query_pairs()
                        .map(|(k, v)| {
                            let v = if is_secret(&k) {
                                HIDDEN.into()
                            } else {
                                v.into_owned()
                            };
                            (k.into_owned(), v)
                        })
                        .collect();
                    parsed.query_pairs_mut().clear().extend_pairs(pairs);
                }
                parsed.to_string()
            }
            // An unparsable URL may still hold a secret: show only its scheme.
            Err(_) => format!("{}://…", raw.split("://").next().unwrap_or("")),
        };
    }
    match parse_kv(raw) {
        Some(mut pairs) => {
            for p in &mut pairs {
                if is_secret(&p.key) {
                    p.value = HIDDEN.into();
                }
            }
            write_kv(&pairs)
        }
        // An unparsable string (an unterminated quote) may hold a secret anywhere.
        None => "(unparsable connection string)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_every_form() {
        let url = RedactedUrl::new("postgres://app:hunter2@db.example:5432/prod");
        assert_eq!(url.to_string(), "postgres://app:***@db.example:5432/prod");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://app:hunter2@db.example:5432/prod");

        let kv = RedactedUrl::new("host=db user=app password=hunter2 dbname=prod");
        assert_eq!(kv.to_string(), "host=db user=app password=*** dbname=prod");

        let broken = RedactedUrl::new("postgres://app:hun ter2@[bad");
        assert!(!broken.to_string().contains("hun"), "{broken}");

        let plain = RedactedUrl::new("postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(plain.to_string(), "postgres://postgres@127.0.0.1:5432/test");
    }

    /// L12: tokio-postgres takes a password from the query too.
    #[test]
    fn query_parameter_secrets_are_hidden() {
        let url = RedactedUrl::new(
            "postgres://app@db/prod?sslmode=require&password=hunter2&sslpassword=k3y&application_name=x",
        );
        let shown = url.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("password=***"), "{shown}");
        assert!(shown.contains("sslpassword=***"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
        assert!(shown.contains("application_name=x"), "{shown}");
        assert!(!format!("{url:?}").contains("hunter2"));

        let upper = RedactedUrl::new("postgresql://db/prod?PASSWORD=hunter2");
        assert!(!upper.to_string().contains("hunter2"), "{upper}");
        let encoded = RedactedUrl::new("postgres://db/prod?pass%77ord=hunter2");
        assert!(!encoded.to_string().contains("hunter2"), "{encoded}");
    }

    /// L12: a quoted value in the key=value form is hidden whole.
    #[test]
    fn quoted_key_value_secrets_are_hidden_whole() {
        for raw in [
            "host=db password='hunter2 second' user=app",
            "host=db password = 'hunter2 second' user=app",
            r"host=db password='hunter2 \' second' user=app",
            "host=db sslpassword='hunter2 second' user=app",
        ] {
            let shown = RedactedUrl::new(raw).to_string();
            assert!(
                !shown.contains("hunter2") && !shown.contains("second"),
                "{raw} -> {shown}"
            );
            assert!(
                shown.contains("user=app") && shown.contains("host=db"),
                "{shown}"
            );
        }
        let unterminated = RedactedUrl::new("host=db password='hunter2 second");
        assert!(
            !unterminated.to_string().contains("hunter2"),
            "{unterminated}"
        );
        let kept = RedactedUrl::new("host=db application_name='my app'");
        assert_eq!(kept.to_string(), "host=db application_name='my app'");
    }

    #[test]
    fn key_value_strings_round_trip() {
        let pairs = parse_kv(r"a=1 b = 'x y' c='it\'s' d=''").expect("parses");
        let values: Vec<&str> = pairs.iter().map(|p| p.value.as_str()).collect();
        assert_eq!(values, ["1", "x y", "it's", ""]);
        assert_eq!(parse_kv(&write_kv(&pairs)), Some(pairs));
        assert_eq!(parse_kv("novalue"), None);
        assert_eq!(parse_kv("=x"), None);
    }
}
