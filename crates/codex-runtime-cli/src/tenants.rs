//! `serve --tenants FILE`: tenants, the SHA-256 of their tokens, and optional working
//! directories, as TOML (`.toml`) or JSON (`.json`). Unknown keys are errors.
//!
//! ```toml
//! [tenants.alice]
//! token_sha256 = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"
//! workspace = "/srv/alice"          # optional; default <pool root>/alice/workspace
//!
//! [tenants.bob]
//! token_sha256 = "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9"
//! ```

use codex_runtime::web::{TenantId, TenantTokens};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What is wrong with a tenants file.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// It cannot be read.
    #[error("--tenants {path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Its extension is neither `.toml` nor `.json`.
    #[error("--tenants {path}: expected a .toml or .json file")]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// It does not parse (unknown keys included).
    #[error("--tenants {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (where and what).
        message: String,
    },
    /// A tenant entry is not usable.
    #[error("--tenants {path}: tenant {tenant:?}: {message}")]
    Tenant {
        /// The file.
        path: PathBuf,
        /// The tenant.
        tenant: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tenants: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    token_sha256: String,
    #[serde(default)]
    workspace: Option<PathBuf>,
}

/// One tenant of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant.
    pub id: TenantId,
    /// Its token's SHA-256, 64 hex digits.
    pub token_sha256: String,
    /// Its working directory, when given (absolute, existing).
    pub workspace: Option<PathBuf>,
}

/// Reads and checks the tenants file at `path`.
pub fn load(path: &Path) -> Result<Vec<Tenant>, TenantsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses `text` (the contents of `path`; its extension says the format).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Tenant>, TenantsError> {
    let perr = |message: String| TenantsError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let file: File = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(text).map_err(|e| perr(e.to_string()))?,
        Some("json") => serde_json::from_str(text).map_err(|e| perr(e.to_string()))?,
        _ => {
            return Err(TenantsError::Format {
                path: path.to_path_buf(),
            })
        }
    };
    if file.tenants.is_empty() {
        return Err(perr("no tenants".into()));
    }
    let mut out = Vec::with_capacity(file.tenants.len());
    let mut hashes = std::collections::HashSet::new();
    for (name, entry) in file.tenants {
        let bad = |message: &str| TenantsError::Tenant {
            path: path.to_path_buf(),
            tenant: name.clone(),
            message: message.to_string(),
        };
        let id = TenantId::new(name.clone()).ok_or_else(|| bad("the name is empty"))?;
        let hash = entry.token_sha256.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(
                "token_sha256 must be 64 hex digits (sha256sum of the token)",
            ));
        }
        if !hashes.insert(hash.clone()) {
            return Err(bad("the same token_sha256 as another tenant"));
        }
        if let Some(ws) = &entry.workspace {
            if !ws.is_absolute() {
                return Err(bad("workspace must be an absolute path"));
            }
            if !ws.is_dir() {
                return Err(bad(&format!(
                    "workspace {}: no such directory",
                    ws.display()
                )));
            }
        }
        out.push(Tenant {
            id,
            token_sha256: hash,
            workspace: entry.workspace,
        });
    }
    Ok(out)
}

/// The tokens of `tenants`.
pub fn tokens(tenants: &[Tenant]) -> TenantTokens {
    let mut tokens = TenantTokens::new();
    for t in tenants {
        // Checked by `parse`: 64 hex digits.
        if let Some(next) = tokens
            .clone()
            .with_token_hash(t.id.clone(), &t.token_sha256)
        {
            tokens = next;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_runtime::web::hash_token;

    #[test]
    fn toml_and_json_files_give_the_same_tenants() {
        let h = hash_token("a-token");
        let dir = std::env::temp_dir();
        let toml = format!(
            "[tenants.alice]\ntoken_sha256 = \"{h}\"\nworkspace = \"{}\"\n",
            dir.display()
        );
        let json = format!(
            r#"{{"tenants": {{"alice": {{"token_sha256": "{h}", "workspace": "{}"}}}}}}"#,
            dir.display()
        );
        let a = parse(Path::new("t.toml"), &toml).unwrap();
        let b = parse(Path::new("t.json"), &json).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].id.as_str(), "alice");
        assert_eq!(a[0].workspace.as_deref(), Some(dir.as_path()));
    }

    #[test]
    fn bad_files_are_typed_errors_that_say_what_and_where() {
        let h = hash_token("x");
        let cases = [
            (
                "t.toml",
                format!("[tenants.a]\ntoken_sha256 = \"{h}\"\ncolour = \"red\"\n"),
                "colour",
            ),
            (
                "t.json",
                r#"{"tenants": {}, "extra": 1}"#.to_string(),
                "extra",
            ),
            (
                "t.toml",
                "[tenants.a]\ntoken_sha256 = \"zz\"\n".to_string(),
                "64 hex",
            ),
            (
                "t.toml",
                format!("[tenants.a]\ntoken_sha256 = \"{h}\"\nworkspace = \"rel\"\n"),
                "absolute",
            ),
            (
                "t.toml",
                format!("[tenants.a]\ntoken_sha256 = \"{h}\"\nworkspace = \"/no/such/dir/x\"\n"),
                "no such directory",
            ),
            (
                "t.toml",
                format!(
                    "[tenants.a]\ntoken_sha256 = \"{h}\"\n[tenants.b]\ntoken_sha256 = \"{h}\"\n"
                ),
                "same token",
            ),
            ("t.toml", "[tenants]\n".to_string(), "no tenants"),
            ("t.yaml", String::new(), ".toml or .json"),
        ];
        for (name, text, expect) in cases {
            let err = parse(Path::new(name), &text).unwrap_err().to_string();
            assert!(err.contains(expect), "{name}: {err}");
            assert!(err.contains(name), "{err}");
        }
    }
}
