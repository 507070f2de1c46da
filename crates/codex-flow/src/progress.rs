//! Progress reporting while steps run: lifecycle events and output lines, delivered to a callback.

use std::sync::Arc;

use serde::Serialize;

/// Which stream an output line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// A command step's stdout.
    Stdout,
    /// A command step's stderr.
    Stderr,
    /// The agent text of a Code Mode turn.
    Agent,
}

/// One progress notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProgressEvent {
    /// A step started.
    #[serde(rename_all = "camelCase")]
    Started {
        /// The run id (absent for explicit runs without one).
        run_id: Option<String>,
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
    },
    /// A line of step output (without its newline; very long lines arrive in pieces).
    #[serde(rename_all = "camelCase")]
    Output {
        /// The run id.
        run_id: Option<String>,
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The stream.
        stream: OutputStream,
        /// The text.
        line: String,
    },
    /// A step finished.
    #[serde(rename_all = "camelCase")]
    Finished {
        /// The run id.
        run_id: Option<String>,
        /// The flow name.
        flow: String,
        /// The step name.
        step: String,
        /// The effective status (`completed`, `blocked`, `failed`, ...).
        status: String,
        /// The error, if the run failed.
        error: Option<String>,
    },
}

/// Receives progress; called synchronously from the runner, so it should be quick.
pub type ProgressSink = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// A sink that drops everything.
pub fn no_progress() -> ProgressSink {
    Arc::new(|_| {})
}
