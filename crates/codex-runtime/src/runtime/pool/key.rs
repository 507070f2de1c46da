//! [`PoolKey`]: the isolation key of a [`super::RuntimePool`] process, safe as a directory name.

use super::error::PoolError;
use std::fmt;

/// The isolation key of a pool process (the tenant, by default): 1 to 64 characters of
/// `A-Z a-z 0-9 . _ -`, not starting with `.`, so it is always one safe directory name under
/// the pool root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolKey(String);

impl PoolKey {
    /// Longest key, in bytes.
    pub const MAX_LEN: usize = 64;

    /// A key, or [`PoolError::BadKey`] saying what is wrong with it.
    pub fn new(key: impl Into<String>) -> Result<PoolKey, PoolError> {
        let key = key.into();
        let bad = |reason: &str| PoolError::BadKey {
            key: key.chars().take(Self::MAX_LEN + 8).collect(),
            reason: reason.to_string(),
        };
        if key.is_empty() {
            return Err(bad("it is empty"));
        }
        if key.len() > Self::MAX_LEN {
            return Err(bad("it is longer than 64 bytes"));
        }
        if key.starts_with('.') {
            return Err(bad("it starts with `.`"));
        }
        if let Some(c) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(bad(&format!(
                "{c:?} is not allowed (only A-Z a-z 0-9 . _ -)"
            )));
        }
        Ok(PoolKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_single_safe_directory_names() {
        assert_eq!(
            PoolKey::new("tenant-a_1.x").unwrap().as_str(),
            "tenant-a_1.x"
        );
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "ä", &"x".repeat(65)] {
            let err = PoolKey::new(bad).unwrap_err();
            assert!(matches!(err, PoolError::BadKey { .. }), "{bad:?}: {err}");
        }
    }
}
