//! The supported codex window and which methods each codex version has.
//!
//! The tested window is [`MIN_CODEX_VERSION`] to [`MAX_CODEX_VERSION`]. `initialize` always
//! refuses a codex older than the window with [`Error::UnsupportedVersion`]. A codex newer than
//! the window is accepted by default ([`VersionPolicy::AcceptNewer`]) with a `tracing` warning,
//! and [`CodexVersionInfo::is_untested`] says so to the program; [`VersionPolicy::Strict`]
//! refuses it instead. A client method the connected codex does not have fails before anything
//! is sent, with [`Error::MethodUnavailable`]; a codex newer than the window is judged by the
//! newest table.
//!
//! What each version has comes from the method tables under `schemas/versions/<VERSION>.json`,
//! written by `scripts/gen-versions.py tables` from that version's own
//! `codex app-server generate-json-schema [--experimental]`, and compiled in as one static
//! array by `scripts/gen-versions.py docs` (`runtime/method_table.rs`: a row per method with a
//! bit per version). A lookup is a binary search: nothing is parsed or allocated at run time.
//! For a version between two tabled ones, a method is refused only when neither neighbour has
//! it (so a method added in an untabled release is still let through). A method no table knows
//! (a newer or private one) is never refused: the server answers for it.

use super::method_table::{METHODS, VERSIONS};
use crate::error::{Error, Result};

/// A codex version, `(major, minor, patch)`.
pub type CodexVersion = (u64, u64, u64);

/// Oldest codex this SDK supports (the oldest version the end-to-end suite runs against).
pub const MIN_CODEX_VERSION: CodexVersion = (0, 150, 0);

/// Newest codex this SDK supports; also the pinned version (`scripts/install-codex.sh`).
pub const MAX_CODEX_VERSION: CodexVersion = (0, 171, 0);

/// `X.Y.Z` of a version.
pub fn format_version(v: CodexVersion) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// Parses `X.Y.Z` (a pre-release or build suffix is ignored; a missing patch is 0).
pub fn parse_version(text: &str) -> Option<CodexVersion> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// What `initialize` does with a codex newer than [`MAX_CODEX_VERSION`] (the newest tested
/// one). A codex older than [`MIN_CODEX_VERSION`] is refused under every policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VersionPolicy {
    /// Accept it, with a `tracing` warning; [`CodexVersionInfo::is_untested`] is `true` and
    /// methods are judged by the newest table. The default: users upgrade codex on their own
    /// (npm, brew, auto-update), and a new release usually keeps the protocol.
    #[default]
    AcceptNewer,
    /// Refuse it with [`Error::UnsupportedVersion`]: only the tested window connects.
    Strict,
}

/// The connected codex's version, and whether the SDK was tested against it.
///
/// Returned by `Runtime::codex_version`, `Client::codex_version` and `AppServer::codex_version`.
/// Displays as `0.171.0`, or `0.172.0 (untested; newest tested 0.171.0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodexVersionInfo {
    version: CodexVersion,
}

impl CodexVersionInfo {
    /// The info of `version`.
    pub const fn new(version: CodexVersion) -> Self {
        CodexVersionInfo { version }
    }

    /// `(major, minor, patch)`.
    pub const fn version(&self) -> CodexVersion {
        self.version
    }

    /// `true` when the version is newer than [`MAX_CODEX_VERSION`], the newest version the SDK's
    /// suite ran against (accepted under [`VersionPolicy::AcceptNewer`]).
    pub fn is_untested(&self) -> bool {
        self.version > MAX_CODEX_VERSION
    }

    /// The newest tested version ([`MAX_CODEX_VERSION`]).
    pub const fn newest_tested(&self) -> CodexVersion {
        MAX_CODEX_VERSION
    }
}

impl std::fmt::Display for CodexVersionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_version(self.version))?;
        if self.is_untested() {
            write!(
                f,
                " (untested; newest tested {})",
                format_version(MAX_CODEX_VERSION)
            )?;
        }
        Ok(())
    }
}

/// Accepts or refuses the codex `found` at `initialize`, per `policy`: older than the window is
/// refused, newer than the window is refused under [`VersionPolicy::Strict`] and accepted with a
/// warning otherwise. A refusal names the window and the policy.
pub fn check_window(
    found: CodexVersion,
    user_agent: &str,
    policy: VersionPolicy,
) -> Result<CodexVersionInfo> {
    let info = CodexVersionInfo::new(found);
    let refuse = || Error::UnsupportedVersion {
        found: format_version(found),
        minimum: format_version(MIN_CODEX_VERSION),
        newest: format_version(MAX_CODEX_VERSION),
        user_agent: user_agent.to_string(),
        strict: found > MAX_CODEX_VERSION,
    };
    if found < MIN_CODEX_VERSION {
        return Err(refuse());
    }
    if found > MAX_CODEX_VERSION {
        if policy == VersionPolicy::Strict {
            return Err(refuse());
        }
        tracing::warn!(
            codex_version = %format_version(found),
            newest_tested = %format_version(MAX_CODEX_VERSION),
            user_agent,
            "codex {} is newer than the newest version this SDK was tested with ({}); \
             continuing (methods are judged by the {} table; VersionPolicy::Strict refuses it)",
            format_version(found),
            format_version(MAX_CODEX_VERSION),
            format_version(MAX_CODEX_VERSION),
        );
    }
    Ok(info)
}

/// What a version offers of one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodStatus {
    /// The version does not have it.
    Absent,
    /// Only with the experimental API (`experimentalApi: true` at initialize).
    Experimental,
    /// Always available.
    Stable,
}

/// The compiled row of `method`: `(stable in, experimental-only in)` as version bit masks.
fn row(method: &str) -> Option<(u32, u32)> {
    METHODS
        .binary_search_by(|(name, _, _)| (*name).cmp(method))
        .ok()
        .map(|i| (METHODS[i].1, METHODS[i].2))
}

/// What the tabled version at index `i` offers, given a method's row.
fn status_at((stable, experimental): (u32, u32), i: usize) -> MethodStatus {
    if stable >> i & 1 == 1 {
        MethodStatus::Stable
    } else if experimental >> i & 1 == 1 {
        MethodStatus::Experimental
    } else {
        MethodStatus::Absent
    }
}

/// The versions that have a method table, oldest first (compiled in; nothing is allocated).
pub fn tabled_versions() -> &'static [CodexVersion] {
    &VERSIONS
}

/// What `version` offers of `method`, from the tables (the better of the two neighbouring tables
/// for an untabled version); `None` when no table knows the method.
pub fn method_status(version: CodexVersion, method: &str) -> Option<MethodStatus> {
    let row = row(method)?; // unknown to every table: let the server decide
    let below = VERSIONS.iter().rposition(|t| *t <= version);
    let above = VERSIONS.iter().position(|t| *t >= version);
    [below, above]
        .into_iter()
        .flatten()
        .map(|i| status_at(row, i))
        .max()
}

/// The oldest tabled version that has `method` stable (else at all), for error messages.
fn first_with(method: &str) -> Option<CodexVersion> {
    let (stable, experimental) = row(method)?;
    let first = |mask: u32| {
        (mask != 0)
            .then(|| VERSIONS.get(mask.trailing_zeros() as usize).copied())
            .flatten()
    };
    first(stable).or_else(|| first(stable | experimental))
}

/// Fails with [`Error::MethodUnavailable`] when the connected codex does not have `method`, or
/// has it only behind the experimental API and `experimental_api` is off. `None` (a version the
/// user agent did not reveal) lets every method through.
pub fn check_method(
    version: Option<CodexVersion>,
    method: &str,
    experimental_api: bool,
) -> Result<()> {
    let Some(version) = version else {
        return Ok(());
    };
    let needs_experimental_api = match method_status(version, method) {
        None | Some(MethodStatus::Stable) => return Ok(()),
        Some(MethodStatus::Experimental) if experimental_api => return Ok(()),
        Some(MethodStatus::Experimental) => true,
        Some(MethodStatus::Absent) => false,
    };
    Err(Error::MethodUnavailable {
        method: method.to_string(),
        codex_version: format_version(version),
        since: first_with(method).map(format_version),
        needs_experimental_api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compiled table says exactly what the JSON tables under `schemas/versions/` say: the
    /// same versions, in order, and per method the same stable and experimental-only versions.
    #[test]
    fn the_compiled_table_matches_every_json_table_under_schemas_versions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/versions");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort_by_key(|p| parse_version(&p.file_stem().unwrap().to_string_lossy()));
        let mut expected = std::collections::BTreeMap::<String, (u32, u32)>::new();
        let mut versions = Vec::new();
        for (i, path) in files.iter().enumerate() {
            let text = std::fs::read_to_string(path).unwrap();
            let file: serde_json::Value = serde_json::from_str(&text).unwrap();
            versions.push(parse_version(file["version"].as_str().unwrap()).unwrap());
            for key in ["client_requests", "notifications", "server_requests"] {
                for (flavour, experimental) in [("stable", false), ("experimental", true)] {
                    for m in file[key][flavour].as_array().unwrap() {
                        let entry = expected.entry(m.as_str().unwrap().to_owned()).or_default();
                        if experimental {
                            entry.1 |= 1 << i;
                        } else {
                            entry.0 |= 1 << i;
                        }
                    }
                }
            }
        }
        assert_eq!(
            versions,
            VERSIONS.to_vec(),
            "run scripts/gen-versions.py docs"
        );
        let compiled: Vec<(String, (u32, u32))> = METHODS
            .iter()
            .map(|(m, s, e)| (m.to_string(), (*s, *e)))
            .collect();
        let expected: Vec<(String, (u32, u32))> = expected.into_iter().collect();
        assert_eq!(compiled, expected, "run scripts/gen-versions.py docs");
        // Sorted the way the lookup searches it.
        assert!(METHODS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(tabled_versions().first(), Some(&MIN_CODEX_VERSION));
        assert_eq!(tabled_versions().last(), Some(&MAX_CODEX_VERSION));
    }

    #[test]
    fn the_window_is_named_when_a_version_is_refused() {
        for policy in [VersionPolicy::AcceptNewer, VersionPolicy::Strict] {
            for v in [MIN_CODEX_VERSION, (0, 160, 0), MAX_CODEX_VERSION] {
                let info = check_window(v, "x", policy).unwrap();
                assert_eq!(info.version(), v);
                assert!(!info.is_untested());
                assert_eq!(info.to_string(), format_version(v));
            }
        }
        // Below the floor: refused under every policy, naming the window.
        for policy in [VersionPolicy::AcceptNewer, VersionPolicy::Strict] {
            for v in [(0, 149, 9), (0, 1, 0)] {
                let err = check_window(v, "ua/1", policy).unwrap_err();
                assert!(matches!(
                    err,
                    Error::UnsupportedVersion { strict: false, .. }
                ));
                let msg = err.to_string();
                assert!(msg.contains("0.150.0") && msg.contains("0.171.0"), "{msg}");
                assert!(msg.contains(&format_version(v)), "{msg}");
                assert!(!msg.contains("Strict"), "{msg}");
            }
        }
        // Newer: refused under Strict only (naming the policy), accepted as untested otherwise.
        for v in [(0, 171, 1), (0, 172, 0), (1, 0, 0)] {
            let err = check_window(v, "ua/1", VersionPolicy::Strict).unwrap_err();
            assert!(matches!(
                err,
                Error::UnsupportedVersion { strict: true, .. }
            ));
            let msg = err.to_string();
            assert!(msg.contains("0.150.0") && msg.contains("0.171.0"), "{msg}");
            assert!(
                msg.contains(&format_version(v)) && msg.contains("Strict"),
                "{msg}"
            );
            let info = check_window(v, "ua/1", VersionPolicy::AcceptNewer).unwrap();
            assert_eq!(info.version(), v);
            assert!(info.is_untested());
            assert_eq!(info.newest_tested(), MAX_CODEX_VERSION);
            assert_eq!(
                info.to_string(),
                format!("{} (untested; newest tested 0.171.0)", format_version(v))
            );
        }
        assert_eq!(VersionPolicy::default(), VersionPolicy::AcceptNewer);
    }

    #[test]
    fn an_untested_newer_version_is_judged_by_the_newest_table() {
        // New in 0.171.0: available on a newer codex.
        assert!(check_method(Some((0, 172, 0)), "modelProvider/default/set", false).is_ok());
        // Gone in 0.171.0 (the newest table): refused on a newer codex too.
        let err = check_method(Some((0, 172, 0)), "currentTime/read", true).unwrap_err();
        assert!(err.to_string().contains("0.172.0"), "{err}");
        // Unknown to every table (a method the newer codex may have added): let through.
        assert!(check_method(Some((0, 172, 0)), "thread/brandNew", false).is_ok());
    }

    #[test]
    fn methods_are_gated_per_version() {
        // New in 0.171.0.
        let err = check_method(Some((0, 169, 0)), "modelProvider/default/set", true).unwrap_err();
        match &err {
            Error::MethodUnavailable {
                method,
                codex_version,
                since,
                needs_experimental_api,
            } => {
                assert_eq!(method, "modelProvider/default/set");
                assert_eq!(codex_version, "0.169.0");
                assert_eq!(since.as_deref(), Some("0.171.0"));
                assert!(!needs_experimental_api);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string().contains("first appears in codex 0.171.0"),
            "{err}"
        );
        assert!(check_method(Some((0, 171, 0)), "modelProvider/default/set", false).is_ok());
        // Removed in 0.171.0 (experimental before).
        assert!(check_method(Some((0, 171, 0)), "currentTime/read", true).is_err());
        assert!(check_method(Some((0, 160, 0)), "currentTime/read", true).is_ok());
        // Untabled version between 0.166.0 and 0.169.0: refused only if neither neighbour has it.
        assert!(check_method(Some((0, 167, 0)), "modelProvider/list", false).is_ok());
        assert!(check_method(Some((0, 167, 0)), "modelProvider/default/set", false).is_err());
        // Present everywhere; unknown to every table; unknown version.
        assert!(check_method(Some((0, 160, 0)), "turn/start", false).is_ok());
        assert!(check_method(Some((0, 160, 0)), "vendor/custom", false).is_ok());
        assert!(check_method(None, "modelProvider/default/set", false).is_ok());
    }

    #[test]
    fn a_method_experimental_in_the_connected_codex_needs_the_experimental_api() {
        // `thread/revert` is experimental-only in 0.150.0, stable from 0.160.0.
        let err = check_method(Some((0, 150, 0)), "thread/revert", false).unwrap_err();
        assert!(matches!(
            err,
            Error::MethodUnavailable {
                needs_experimental_api: true,
                ..
            }
        ));
        assert!(err.to_string().contains("experimental API"), "{err}");
        assert!(check_method(Some((0, 150, 0)), "thread/revert", true).is_ok());
        assert!(check_method(Some((0, 160, 0)), "thread/revert", false).is_ok());
    }

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("0.171.0"), Some((0, 171, 0)));
        assert_eq!(parse_version("1.2.3-alpha.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), Some((1, 2, 0)));
        assert_eq!(parse_version("x.1"), None);
    }
}
