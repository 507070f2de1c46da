//! [`Revision`] and [`compute_revision`]: a content hash over a canonical encoding of the
//! artifact's format and content.

use super::model::ArtifactFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A revision: `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(String);

impl Revision {
    /// Wraps a revision string as given (for example one a model returned); it is compared,
    /// never trusted.
    pub fn from_string(s: impl Into<String>) -> Self {
        Revision(s.into())
    }

    /// The revision string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tag that versions the canonical encoding; a change of encoding changes every revision.
const DOMAIN: &[u8] = b"codex-runtime/artifact-revision/v1\0";

/// SHA-256 over the canonical encoding of `format` and `content`: a domain tag, the format name,
/// a NUL, the content length as 8 big-endian bytes, then the content bytes. The length prefix
/// makes the encoding unambiguous, so two different (format, content) pairs never encode alike.
///
/// ```
/// use codex_runtime::artifact::{compute_revision, ArtifactFormat};
/// let a = compute_revision(ArtifactFormat::Markdown, "# Title\n");
/// assert_eq!(a, compute_revision(ArtifactFormat::Markdown, "# Title\n"));
/// assert_ne!(a, compute_revision(ArtifactFormat::Text, "# Title\n"));
/// assert!(a.as_str().starts_with("sha256:") && a.as_str().len() == 7 + 64);
/// ```
pub fn compute_revision(format: ArtifactFormat, content: &str) -> Revision {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(format.as_str().as_bytes());
    h.update([0u8]);
    h.update((content.len() as u64).to_be_bytes());
    h.update(content.as_bytes());
    Revision(format!("sha256:{}", hex::encode(h.finalize())))
}
