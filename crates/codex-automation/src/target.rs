//! What an automation drives: the [`AutomationTarget`] trait and its error, [`TurnFailure`].

use std::fmt;
use std::sync::Arc;

pub use futures::future::BoxFuture;

/// One prepared session that an automation runs turns on.
///
/// `codex_runtime` implements this for its `Session`; tests implement it with a fake. The
/// automation never creates or resumes sessions: every run calls [`run_turn`](Self::run_turn)
/// on the one target it was given, so the conversation history accumulates across runs. At
/// most one call of `run_turn` is in flight at any time.
pub trait AutomationTarget: Send + Sync + 'static {
    /// The outcome of one turn (`codex_runtime` uses its turn output type).
    type Outcome: Clone + fmt::Debug + Send + Sync + 'static;

    /// Runs one turn with this prompt on the same session and returns its outcome.
    fn run_turn<'a>(&'a self, prompt: &'a str)
        -> BoxFuture<'a, Result<Self::Outcome, TurnFailure>>;

    /// Interrupts the in-flight turn and returns once the interrupt was delivered.
    ///
    /// Called while `run_turn` is still being polled (by `stop(StopMode::Interrupt)` and on a
    /// per-run timeout); the runner keeps polling the turn until it ends or the interrupt grace
    /// period passes.
    fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>>;
}

impl<T: AutomationTarget> AutomationTarget for Arc<T> {
    type Outcome = T::Outcome;

    fn run_turn<'a>(
        &'a self,
        prompt: &'a str,
    ) -> BoxFuture<'a, Result<Self::Outcome, TurnFailure>> {
        (**self).run_turn(prompt)
    }

    fn interrupt<'a>(&'a self) -> BoxFuture<'a, Result<(), TurnFailure>> {
        (**self).interrupt()
    }
}

/// Why running the automation's prompt failed: the same type as [`TurnFailure`] under the name
/// the seed API uses (one type, two names; the runner wraps it in
/// [`AutomationError::TurnFailed`](crate::AutomationError::TurnFailed) with the run number).
///
/// ```
/// use codex_automation::{PromptRunError, TurnFailure};
/// let error: PromptRunError = TurnFailure::new("model refused");
/// assert_eq!(error.message(), "model refused");
/// ```
pub type PromptRunError = TurnFailure;

/// Why a turn (or an interrupt) failed, as reported by an [`AutomationTarget`].
///
/// A message plus, optionally, the original error. Cheap to clone.
#[derive(Clone)]
pub struct TurnFailure {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TurnFailure {
    /// A failure described by a message only.
    ///
    /// ```
    /// let failure = codex_automation::TurnFailure::new("model refused");
    /// assert_eq!(failure.message(), "model refused");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        TurnFailure {
            message: message.into(),
            source: None,
        }
    }

    /// A failure wrapping an error; the message is the error's `Display` text.
    pub fn from_error(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        TurnFailure {
            message: error.to_string(),
            source: Some(Arc::new(error)),
        }
    }

    /// The failure's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for TurnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnFailure")
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for TurnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TurnFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
