//! [`FlowClientConfig`] and how configuration is read: every key is checked (an unknown key is
//! an error naming it, with the closest known key), and the reference client's names are
//! accepted: `mode` for `backend`, `bearerToken` for `token`, `hmacSecret` for
//! `signingSecret`, and `state: {"kind": "file"}` for durable state.

use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::client::config_keys::{check_keys, field_names};
use crate::client::{FlowClient, HttpFlowClientConfig};
use crate::client::{LocalFlowClient, LocalFlowClientConfig, LocalHooks, StateMode};
use crate::code_mode::{CodeModeDefaults, CodeModeExecutor};
use crate::error::{FlowError, Result};

/// Which flow client to use: `{"backend": "local", ...}` or `{"backend": "http", ...}`
/// (`"mode"` is accepted for `"backend"`). Reading it refuses unknown keys.
///
/// ```
/// use codex_flow::FlowClientConfig;
/// let config: FlowClientConfig = serde_json::from_value(serde_json::json!({
///     "mode": "http", "baseUrl": "https://flows.example.com", "hmacSecret": "s3cret"
/// }))?;
/// let FlowClientConfig::Http(http) = config else { unreachable!() };
/// assert!(http.signing_secret.is_some());
///
/// let err = serde_json::from_value::<FlowClientConfig>(serde_json::json!({
///     "backend": "http", "baseUrl": "https://flows.example.com", "signingSecrt": "s3cret"
/// }))
/// .unwrap_err();
/// assert!(err.to_string().contains("did you mean `signingSecret`?"), "{err}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum FlowClientConfig {
    /// Discover flows and run them in this process.
    Local(LocalFlowClientConfig),
    /// Talk to a flow backend over HTTP.
    Http(HttpFlowClientConfig),
}

impl FlowClientConfig {
    /// Reads a configuration from JSON; any problem is [`FlowError::Config`] naming the key.
    pub fn from_value(value: Value) -> Result<Self> {
        parse(value).map_err(FlowError::Config)
    }

    /// Builds the configured client.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), codex_flow::FlowError> {
    /// use codex_flow::{DispatchOptions, FlowClientConfig, LocalFlowClientConfig};
    /// let config = FlowClientConfig::Local(LocalFlowClientConfig::new("/path/to/project"));
    /// let client = config.build(None)?;
    /// let response = client
    ///     .dispatch_event(
    ///         serde_json::json!({"id": "evt-1", "type": "upstream.release"}),
    ///         DispatchOptions { wait: true },
    ///     )
    ///     .await?;
    /// println!("{} runs", response.run_ids.len());
    /// # Ok(()) }
    /// ```
    pub fn build(
        self,
        code_mode: Option<Arc<dyn CodeModeExecutor>>,
    ) -> Result<Box<dyn FlowClient>> {
        Ok(match self {
            FlowClientConfig::Local(config) => Box::new(LocalFlowClient::open_with(
                config,
                LocalHooks {
                    code_mode,
                    progress: None,
                },
            )?),
            #[cfg(feature = "http-client")]
            FlowClientConfig::Http(config) => Box::new(crate::client::HttpFlowClient::new(config)?),
            #[cfg(not(feature = "http-client"))]
            FlowClientConfig::Http(config) => {
                return Err(FlowError::Config(format!(
                    "backend \"http\" ({}) needs codex-flow built with the `http-client` feature",
                    crate::client::redact_url(&config.base_url)
                )))
            }
        })
    }
}

impl<'de> Deserialize<'de> for FlowClientConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        parse(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

const TAG_KEYS: [&str; 2] = ["backend", "mode"];
const BACKENDS: &str = "`local` or `http`";

fn parse(value: Value) -> std::result::Result<FlowClientConfig, String> {
    let Value::Object(mut object) = value else {
        return Err("the flow client configuration must be a JSON object".into());
    };
    let backend = take_backend(&mut object)?;
    match backend.as_str() {
        "local" => {
            let mut known = field_names::<LocalFlowClientConfig>().to_vec();
            known.extend(TAG_KEYS);
            check_keys(&object, &known, "the local flow client configuration")?;
            if let Some(Value::Object(code_mode)) = object.get("codeMode") {
                check_keys(
                    code_mode,
                    field_names::<CodeModeDefaults>(),
                    "`codeMode` of the local flow client configuration",
                )?;
            }
            serde_json::from_value(Value::Object(object))
                .map(FlowClientConfig::Local)
                .map_err(|e| format!("local flow client configuration: {e}"))
        }
        "http" => {
            let mut known = field_names::<HttpFlowClientConfig>().to_vec();
            known.extend(TAG_KEYS);
            check_keys(&object, &known, "the http flow client configuration")?;
            serde_json::from_value(Value::Object(object))
                .map(FlowClientConfig::Http)
                .map_err(|e| format!("http flow client configuration: {e}"))
        }
        other => Err(format!(
            "unknown flow client backend `{other}`: expected {BACKENDS}"
        )),
    }
}

/// Removes `backend` and `mode` and answers the backend they name (they must agree).
fn take_backend(object: &mut Map<String, Value>) -> std::result::Result<String, String> {
    let mut found: Option<(String, &str)> = None;
    for key in TAG_KEYS {
        let Some(value) = object.remove(key) else {
            continue;
        };
        let Value::String(name) = value else {
            return Err(format!("`{key}` must be a string: {BACKENDS}"));
        };
        if let Some((first, first_key)) = &found {
            if *first != name {
                return Err(format!(
                    "`{first_key}` is `{first}` but `{key}` is `{name}`: give one of them"
                ));
            }
        }
        found = Some((name, key));
    }
    found.map(|(name, _)| name).ok_or_else(|| {
        format!("the flow client configuration needs `backend` (or `mode`): {BACKENDS}")
    })
}

impl<'de> Deserialize<'de> for StateMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let kind = match Value::deserialize(deserializer)? {
            Value::String(kind) => kind,
            Value::Object(object) => {
                check_keys(&object, &["kind"], "`state`")
                    .map_err(|e| D::Error::custom(format!("{e} (the directory is `stateDir`)")))?;
                match object.get("kind") {
                    Some(Value::String(kind)) => kind.clone(),
                    _ => return Err(D::Error::custom("`state.kind` must be a string")),
                }
            }
            _ => {
                return Err(D::Error::custom(
                    "`state` must be \"memory\", \"durable\" or {\"kind\": ...}",
                ))
            }
        };
        match kind.as_str() {
            "memory" => Ok(StateMode::Memory),
            "durable" | "file" => Ok(StateMode::Durable),
            other => Err(D::Error::custom(format!(
                "unknown state `{other}`: expected `memory`, `durable` or `file`"
            ))),
        }
    }
}
