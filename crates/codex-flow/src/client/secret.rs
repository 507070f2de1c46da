//! Credentials held by flow clients and servers: kept in [`secrecy::SecretString`], redacted in
//! `Debug`, exposed only where they are sent or checked.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// A token, API key or signing secret; `Debug` prints `[REDACTED]`.
///
/// ```
/// let secret = codex_flow::Secret::from("t0ken");
/// assert_eq!(format!("{secret:?}"), "[REDACTED]");
/// assert_eq!(secret.expose(), "t0ken");
/// ```
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The secret text, for sending or checking it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with `other`: the SHA-256 digests of both are compared, so
    /// neither the content nor the length of the secret shows in the time taken.
    pub fn matches(&self, other: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        let mine = Sha256::digest(self.expose().as_bytes());
        let theirs = Sha256::digest(other);
        mine.as_slice().ct_eq(theirs.as_slice()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose().as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(SecretString::from(value))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(SecretString::from(value))
    }
}

impl Serialize for Secret {
    /// Configuration files hold the secret itself, so serializing writes it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::from)
    }
}

/// `url` with any `user:password@` replaced by `***@`, for messages and logs. Works on text
/// that does not parse as a URL too.
///
/// ```
/// assert_eq!(
///     codex_flow::client::redact_url("https://me:pw@flows.example.com/api"),
///     "https://***@flows.example.com/api"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_bytes() {
        let secret = Secret::from("t0ken");
        assert!(secret.matches(b"t0ken"));
        assert!(!secret.matches(b"t0ke"));
        assert!(!secret.matches(b"t0ken0"));
        assert!(!secret.matches(b""));
        assert!(!secret.matches(b"T0KEN"));
    }
}
