//! [`PluginContractVersion`]: the version of the contract between the artifact manager, its
//! store and its runtime adapter.

use std::fmt;

/// A `major.minor` contract version. Parts with the same major version work together; a
/// different major version is refused by [`crate::artifact::ArtifactSessionManager`] before any
/// task runs.
///
/// ```
/// use codex_runtime::artifact::{PluginContractVersion, ARTIFACT_CONTRACT_VERSION};
/// let v = PluginContractVersion::new(1, 4);
/// assert!(v.is_compatible_with(&PluginContractVersion::new(1, 0)));
/// assert!(!v.is_compatible_with(&PluginContractVersion::new(2, 0)));
/// assert_eq!(ARTIFACT_CONTRACT_VERSION.to_string(), "1.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginContractVersion {
    /// Incompatible changes bump the major version.
    pub major: u16,
    /// Backward-compatible additions bump the minor version.
    pub minor: u16,
}

/// The contract version this build of the artifact module speaks.
pub const ARTIFACT_CONTRACT_VERSION: PluginContractVersion = PluginContractVersion::new(1, 0);

impl PluginContractVersion {
    /// A version.
    pub const fn new(major: u16, minor: u16) -> Self {
        PluginContractVersion { major, minor }
    }

    /// True when both sides have the same major version.
    pub fn is_compatible_with(&self, other: &PluginContractVersion) -> bool {
        self.major == other.major
    }
}

impl fmt::Display for PluginContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
