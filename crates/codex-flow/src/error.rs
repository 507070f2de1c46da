//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading flows, matching events, running steps, keeping
/// state or talking to a flow backend.
///
/// Messages name the file, field, flow, step or id involved. Where the flow-runtime contract fixes
/// a message (for example [`FlowError::InvalidEvent`] or [`FlowError::CodeModeDisabled`]), the
/// `Display` text is exactly that message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// A `flow.toml` could not be read.
    #[error("cannot read flow manifest {path}: {source}")]
    ManifestRead {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `flow.toml` is malformed: `field` is a path such as `steps[1].timeout_ms`.
    #[error("invalid flow manifest {path}: field `{field}`: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The offending field (`.` for the document itself).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A step's `script`, `cwd` or trigger `schema` is absolute, uses `..`, or resolves (through
    /// symlinks) outside the flow folder.
    #[error("invalid flow manifest {manifest}: field `{field}`: path `{value}` escapes the flow folder {root}")]
    PathEscape {
        /// The manifest file.
        manifest: PathBuf,
        /// The offending field, e.g. `steps[0].script`.
        field: String,
        /// The path as written.
        value: String,
        /// The flow folder.
        root: PathBuf,
    },
    /// A trigger schema file cannot be read, is not JSON, or is not a valid JSON Schema.
    #[error("invalid trigger schema {path}: {message}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A flow event does not have the required `id` and `type` strings.
    #[error("FlowEvent requires string id and type")]
    InvalidEvent,
    /// A flow event has a field of the wrong shape.
    #[error("invalid FlowEvent: {0}")]
    InvalidEventField(String),
    /// A flow event is bigger than the documented limit.
    #[error("FlowEvent is {size} bytes, over the limit of {limit} bytes")]
    EventTooLarge {
        /// The event's size (at least this many bytes).
        size: u64,
        /// The limit ([`crate::event::MAX_EVENT_BYTES`]).
        limit: u64,
    },
    /// No line of the step's output carried a FLOW_RESULT.
    #[error("Step did not emit FLOW_RESULT")]
    MissingFlowResult,
    /// The FLOW_RESULT line's JSON does not parse.
    #[error("FLOW_RESULT is not valid JSON: {0}")]
    FlowResultJson(String),
    /// The FLOW_RESULT is JSON but not an object.
    #[error("FLOW_RESULT must be a JSON object")]
    FlowResultNotObject,
    /// The FLOW_RESULT `status` is missing or not one of the known statuses.
    #[error("FLOW_RESULT status is invalid")]
    FlowResultStatus,
    /// Another FLOW_RESULT field (`message`, `artifacts`, `next`) has the wrong shape.
    #[error("FLOW_RESULT is invalid: {0}")]
    FlowResultShape(String),
    /// A Code Mode step ran while Code Mode is not enabled.
    #[error("Code Mode flow step {flow}/{step} requires CODEX_FLOWS_ENABLE_CODE_MODE=1")]
    CodeModeDisabled {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
    },
    /// A Code Mode step ran but the client has no [`crate::CodeModeExecutor`].
    #[error("Code Mode flow step {flow}/{step} cannot run: no Code Mode executor is configured")]
    NoCodeModeExecutor {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
    },
    /// The Codex turn of a Code Mode step failed.
    #[error("Code Mode turn failed: {0}")]
    CodeMode(String),
    /// A step ran past its `timeout_ms`.
    #[error("step {flow}/{step} timed out after {timeout_ms} ms")]
    Timeout {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The step's timeout.
        timeout_ms: u64,
    },
    /// A step was canceled.
    #[error("step {flow}/{step} was canceled")]
    Canceled {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
    },
    /// A command step's process could not be started.
    #[error("cannot start step {flow}/{step} ({program}): {source}")]
    Spawn {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The program that was started.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A command step exited unsuccessfully.
    #[error("step {flow}/{step} exited with {status}")]
    StepExit {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The exit status, e.g. `exit code 2` or `signal 9`.
        status: String,
    },
    /// A local I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No run has this id.
    #[error("unknown run `{0}`")]
    UnknownRun(String),
    /// No event has this id.
    #[error("unknown event `{0}`")]
    UnknownEvent(String),
    /// No discovered flow has this name.
    #[error("unknown flow `{0}`")]
    UnknownFlow(String),
    /// The flow has no step with this name.
    #[error("flow `{flow}` has no step `{step}`")]
    UnknownStep {
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
    },
    /// The durable state store failed.
    #[error("flow state {path}: {message}")]
    State {
        /// The state directory or database.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The flow backend answered with a non-2xx status.
    #[error("Flow backend {method} {path} failed with {status}")]
    Backend {
        /// The HTTP method.
        method: String,
        /// The request path (with the base URL's prefix).
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for diagnostics.
        body: String,
    },
    /// The flow backend could not be reached or its answer could not be read.
    #[error("flow backend {method} {path}: {message}")]
    Http {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// What failed.
        message: String,
    },
    /// The flow client configuration is invalid.
    #[error("invalid flow client configuration: {0}")]
    Config(String),
    /// The PostgreSQL flow store failed (the URL's password is never shown).
    #[error("flow store {store}: {message}")]
    Database {
        /// The store, its URL redacted.
        store: String,
        /// What failed.
        message: String,
    },
    /// A flow server or worker could not start or serve.
    #[error("flow {role}: {message}")]
    Service {
        /// `serve` or `worker`.
        role: &'static str,
        /// What failed.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = FlowError> = std::result::Result<T, E>;

impl FlowError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        FlowError::Io {
            context: context.into(),
            source,
        }
    }
}
