//! [`Tool`]: one typed function the model can call.

use super::args::decode;
use super::output::{ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a tool call may run before it is answered with a timeout error.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest tool name codex accepts in a function name (`mcp__<server>__<tool>`, 64 bytes).
pub(crate) const MAX_NAME_LEN: usize = 40;

pub(crate) type ToolFuture = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send>>;
/// Decodes the arguments (`Err`: the decode error naming the field) and starts the call.
type Handler = dyn Fn(Value) -> Result<ToolFuture, String> + Send + Sync;

struct ToolInner {
    name: String,
    description: String,
    schema: Result<Arc<Map<String, Value>>, String>,
    handler: Box<Handler>,
}

/// A function written in Rust that the model can call, with typed arguments.
///
/// The JSON Schema of the arguments comes from `schemars`; arguments that do not decode reach
/// the model as an error result naming the field. Cheap to clone (the function is shared), so
/// a [`SessionConfig`](crate::runtime::SessionConfig) holding tools clones cheaply too.
///
/// ```
/// use codex_runtime::tools::{Tool, ToolError, ToolOutput};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Lookup {
///     /// The ticket id.
///     id: String,
/// }
///
/// let tool = Tool::new("lookup_ticket", "Look up a ticket by id", |args: Lookup| async move {
///     Ok::<_, ToolError>(ToolOutput::text(format!("ticket {} is open", args.id)))
/// });
/// assert_eq!(tool.name(), "lookup_ticket");
/// ```
#[derive(Clone)]
pub struct Tool {
    inner: Arc<ToolInner>,
    timeout: Duration,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.inner.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Two `Tool`s are equal when they are clones of one tool with the same timeout.
impl PartialEq for Tool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.timeout == other.timeout
    }
}

impl Tool {
    /// A tool named `name` (letters, digits, `_` and `-`, at most 40 bytes) that runs `f` with
    /// the decoded arguments. A name or argument type codex cannot take (the schema of `T`
    /// must describe an object) is reported when a session with the tool starts
    /// ([`Error::Config`](crate::Error::Config)).
    pub fn new<T, F, Fut, E>(name: impl Into<String>, description: impl Into<String>, f: F) -> Self
    where
        T: DeserializeOwned + JsonSchema + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolOutput, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let handler = move |args: Value| -> Result<ToolFuture, String> {
            let args: T = decode(args)?;
            let fut = f(args);
            Ok(Box::pin(async move {
                fut.await.map_err(|e| ToolError::new(e.to_string()))
            }))
        };
        Tool {
            inner: Arc::new(ToolInner {
                name: name.into(),
                description: description.into(),
                schema: input_schema::<T>(),
                handler: Box::new(handler),
            }),
            timeout: DEFAULT_TOOL_TIMEOUT,
        }
    }

    /// Sets how long one call may run (default 60 s). A call past it is answered with an error
    /// result saying so; the tool's future is dropped.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The description the model sees.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The JSON Schema of the arguments (an object schema, subschemas inlined).
    pub fn input_schema(&self) -> Option<&Map<String, Value>> {
        self.inner.schema.as_deref().ok()
    }

    /// Why codex cannot take this tool, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        let name = &self.inner.name;
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Some(format!(
                "tool name {name:?} is invalid: use 1 to {MAX_NAME_LEN} letters, digits, `_` or `-`"
            ));
        }
        match &self.inner.schema {
            Err(e) => Some(format!("tool `{name}`: {e}")),
            Ok(_) => None,
        }
    }

    /// Decodes `args` and starts the call.
    pub(crate) fn start(&self, args: Value) -> Result<ToolFuture, String> {
        (self.inner.handler)(args)
    }
}

/// The argument schema of `T` for MCP: an object schema with every subschema inlined (codex
/// turns it into a function schema and follows no `$ref`).
fn input_schema<T: JsonSchema>() -> Result<Arc<Map<String, Value>>, String> {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let Value::Object(mut map) = schema.to_value() else {
        return Err("the argument schema is not a JSON object".to_string());
    };
    map.remove("$schema");
    if map.get("type").and_then(Value::as_str) != Some("object") {
        return Err(format!(
            "the arguments of a tool must be a struct (a JSON object); `{}` is not",
            std::any::type_name::<T>()
        ));
    }
    Ok(Arc::new(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// The id.
        id: String,
        nested: Nested,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        n: u32,
    }

    fn tool<T: DeserializeOwned + JsonSchema + 'static>(name: &str) -> Tool {
        Tool::new(name, "d", |_: T| async {
            Ok::<_, ToolError>(ToolOutput::text("x"))
        })
    }

    #[test]
    fn the_schema_is_an_object_with_subschemas_inlined() {
        let t = tool::<Args>("ok");
        assert!(t.problem().is_none());
        let schema = serde_json::Value::Object(t.input_schema().unwrap().clone());
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["id"]["description"], "The id.");
        assert_eq!(schema["properties"]["nested"]["type"], "object");
        assert!(!schema.to_string().contains("$ref"), "{schema}");
    }

    #[test]
    fn bad_names_and_non_object_arguments_are_reported() {
        assert!(tool::<Args>("has space")
            .problem()
            .unwrap()
            .contains("invalid"));
        assert!(tool::<Args>("").problem().is_some());
        assert!(tool::<Args>(&"x".repeat(41)).problem().is_some());
        let p = tool::<String>("s").problem().unwrap();
        assert!(p.contains("must be a struct"), "{p}");
    }

    #[test]
    fn a_clone_shares_the_function_and_the_timeout_is_per_tool() {
        let t = tool::<Args>("a").with_timeout(Duration::from_secs(2));
        let c = t.clone();
        assert!(Arc::ptr_eq(&t.inner, &c.inner));
        assert_eq!(c.timeout(), Duration::from_secs(2));
        assert_eq!(tool::<Args>("b").timeout(), DEFAULT_TOOL_TIMEOUT);
    }
}
