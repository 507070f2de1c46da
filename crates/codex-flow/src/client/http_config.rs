//! [`HttpFlowClientConfig`]: where a remote flow backend is and how to authenticate to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::secret::Secret;

/// Configuration of `HttpFlowClient` (the client itself needs the Cargo feature `http-client`;
/// the configuration is always there, so a configuration file is checked the same way). An unknown key is an error; the reference client's
/// names `bearerToken` (for `token`) and `hmacSecret` (for `signingSecret`) are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFlowClientConfig {
    /// The backend URL; a path prefix (`https://host/api/flows`) is kept.
    pub base_url: String,
    /// Sent as `authorization: Bearer <token>` (also read from `bearerToken`).
    #[serde(
        default,
        alias = "bearerToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub token: Option<Secret>,
    /// Sent as `x-api-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Signs every request as `x-flow-signature-256` (also read from `hmacSecret`).
    #[serde(default, alias = "hmacSecret", skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    /// Extra headers (values are treated as credentials: redirects are not followed when any
    /// are set).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (default 30000 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl HttpFlowClientConfig {
    /// A configuration with only the base URL.
    pub fn new(base_url: impl Into<String>) -> Self {
        HttpFlowClientConfig {
            base_url: base_url.into(),
            token: None,
            api_key: None,
            signing_secret: None,
            headers: BTreeMap::new(),
            timeout_ms: default_timeout_ms(),
        }
    }
}
