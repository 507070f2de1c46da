//! [`RedactedUrl`]: a database URL that never shows its password.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A database URL (`postgres://user:password@host/db` or a `key=value` connection string).
///
/// `Debug` and `Display` print it with the password replaced by `***`; only
/// [`RedactedUrl::expose`] returns the real string, for the driver.
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

fn redact(raw: &str) -> String {
    if raw.contains("://") {
        return match url::Url::parse(raw) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    // Cannot fail: a URL that has a password can hold another one.
                    let _ = parsed.set_password(Some("***"));
                }
                parsed.to_string()
            }
            // An unparsable URL may still hold a secret: show only its scheme.
            Err(_) => format!("{}://…", raw.split("://").next().unwrap_or("")),
        };
    }
    // key=value form: hide the value of `password=`.
    raw.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
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
}
