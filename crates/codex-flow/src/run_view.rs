//! Runs as callers see them: the normalized view with process, result and effective status.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::FlowEvent;
use crate::flow_result::{FlowResult, FlowResultStatus};
use crate::output_capture::CapturedOutput;

/// Where a run's process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// Recorded, not started.
    Queued,
    /// Executing.
    Running,
    /// Ended and produced a FLOW_RESULT.
    Completed,
    /// Ended without a usable FLOW_RESULT (error, timeout, bad exit).
    Failed,
    /// Canceled.
    Canceled,
}

impl ProcessStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Queued => "queued",
            ProcessStatus::Running => "running",
            ProcessStatus::Completed => "completed",
            ProcessStatus::Failed => "failed",
            ProcessStatus::Canceled => "canceled",
        }
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ProcessStatus::Completed | ProcessStatus::Failed | ProcessStatus::Canceled
        )
    }

    /// Reads a status from a backend, accepting common synonyms (`pending`, `leased`,
    /// `succeeded`, `cancelled`, ...). Unknown spellings give `None`.
    pub fn parse_lenient(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "queued" | "pending" | "scheduled" | "waiting" => ProcessStatus::Queued,
            "running" | "leased" | "claimed" | "started" | "in_progress" => ProcessStatus::Running,
            "completed" | "succeeded" | "success" | "done" | "finished" => ProcessStatus::Completed,
            "failed" | "error" | "errored" | "timed_out" | "timeout" => ProcessStatus::Failed,
            "canceled" | "cancelled" => ProcessStatus::Canceled,
            _ => return None,
        })
    }
}

/// `resultStatus ?? processStatus ?? "unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveStatus {
    /// Process status `queued`.
    Queued,
    /// Process status `running`.
    Running,
    /// Result or process status `completed`.
    Completed,
    /// Result or process status `failed`.
    Failed,
    /// Process status `canceled`.
    Canceled,
    /// Result `skipped`.
    Skipped,
    /// Result `changed`.
    Changed,
    /// Result `needs_intervention`.
    NeedsIntervention,
    /// Result `blocked`.
    Blocked,
    /// Neither status known.
    Unknown,
}

impl EffectiveStatus {
    /// Computes `resultStatus ?? processStatus ?? unknown`.
    pub fn of(result: Option<FlowResultStatus>, process: Option<ProcessStatus>) -> Self {
        match (result, process) {
            (Some(r), _) => match r {
                FlowResultStatus::Skipped => EffectiveStatus::Skipped,
                FlowResultStatus::Completed => EffectiveStatus::Completed,
                FlowResultStatus::Changed => EffectiveStatus::Changed,
                FlowResultStatus::NeedsIntervention => EffectiveStatus::NeedsIntervention,
                FlowResultStatus::Blocked => EffectiveStatus::Blocked,
                FlowResultStatus::Failed => EffectiveStatus::Failed,
            },
            (None, Some(p)) => match p {
                ProcessStatus::Queued => EffectiveStatus::Queued,
                ProcessStatus::Running => EffectiveStatus::Running,
                ProcessStatus::Completed => EffectiveStatus::Completed,
                ProcessStatus::Failed => EffectiveStatus::Failed,
                ProcessStatus::Canceled => EffectiveStatus::Canceled,
            },
            (None, None) => EffectiveStatus::Unknown,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EffectiveStatus::Queued => "queued",
            EffectiveStatus::Running => "running",
            EffectiveStatus::Completed => "completed",
            EffectiveStatus::Failed => "failed",
            EffectiveStatus::Canceled => "canceled",
            EffectiveStatus::Skipped => "skipped",
            EffectiveStatus::Changed => "changed",
            EffectiveStatus::NeedsIntervention => "needs_intervention",
            EffectiveStatus::Blocked => "blocked",
            EffectiveStatus::Unknown => "unknown",
        }
    }

    /// Whether a person should look at the run (`blocked` or `needs_intervention`).
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            EffectiveStatus::Blocked | EffectiveStatus::NeedsIntervention
        )
    }
}

/// One attempt at executing a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// The attempt id.
    pub id: String,
    /// The attempt's process status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProcessStatus>,
    /// 1-based attempt number.
    #[serde(default)]
    pub attempt_number: u32,
    /// Which worker executed it (`pid:<n>` locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// A backend's lease expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The exit code of a command step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Other backend fields, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The output of one attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    /// The attempt it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// Captured stdout (or a Code Mode turn's agent text).
    #[serde(default)]
    pub stdout: CapturedOutput,
    /// Captured stderr.
    #[serde(default)]
    pub stderr: CapturedOutput,
}

/// A run, normalized. Serialized in camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// The run id.
    pub id: String,
    /// The event that caused it.
    pub event_id: String,
    /// The event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The flow name.
    pub flow: String,
    /// The step name.
    pub step: String,
    /// Where the process is.
    pub process_status: Option<ProcessStatus>,
    /// The FLOW_RESULT status.
    pub result_status: Option<FlowResultStatus>,
    /// `resultStatus ?? processStatus ?? unknown`.
    pub effective_status: EffectiveStatus,
    /// Effective status is `blocked` or `needs_intervention`.
    pub needs_attention: bool,
    /// Whether the run is a replay.
    #[serde(default)]
    pub replay: bool,
    /// The FLOW_RESULT itself (not a runner wrapper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<FlowResult>,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts, oldest first.
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
    /// Output per attempt, oldest first.
    #[serde(default)]
    pub output: Vec<RunOutput>,
    /// The last entry of `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_output: Option<RunOutput>,
    /// Runtime notes (for example next events that were not dispatched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The local process that recorded or runs it (`pid:<n>`); runs of a process that ended
    /// before they finished are marked failed when durable state is next opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A cancel was asked for while the run was executing.
    #[serde(default)]
    pub cancel_requested: bool,
    /// The content hash (`sha256:<hex>`) of the flow package the run was matched against;
    /// workers run it only with that exact package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_hash: Option<String>,
    /// The run failed every attempt its flow's `[retry]` policy allows (dead-letter); it shows
    /// `needsAttention`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dead_letter: bool,
    /// When the run was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it started executing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl RunView {
    /// A new queued run.
    pub fn queued(id: String, event: &FlowEvent, flow: &str, step: &str, replay: bool) -> Self {
        let now = crate::timestamp::now_rfc3339();
        let mut run = RunView {
            id,
            event_id: event.id.clone(),
            event_type: Some(event.event_type.clone()),
            flow: flow.to_string(),
            step: step.to_string(),
            process_status: Some(ProcessStatus::Queued),
            result_status: None,
            effective_status: EffectiveStatus::Unknown,
            needs_attention: false,
            replay,
            result: None,
            error: None,
            attempts: Vec::new(),
            output: Vec::new(),
            latest_output: None,
            notes: Vec::new(),
            owner: None,
            cancel_requested: false,
            package_hash: None,
            dead_letter: false,
            created_at: Some(now.clone()),
            updated_at: Some(now),
            started_at: None,
            finished_at: None,
        };
        run.refresh();
        run
    }

    /// Recomputes the derived fields (`resultStatus`, `effectiveStatus`, `needsAttention`,
    /// `latestOutput`).
    pub fn refresh(&mut self) {
        if let Some(result) = &self.result {
            self.result_status = Some(result.status);
        }
        self.effective_status = EffectiveStatus::of(self.result_status, self.process_status);
        self.needs_attention = self.effective_status.needs_attention() || self.dead_letter;
        self.latest_output = self.output.last().cloned();
    }

    /// Whether the run is over.
    pub fn is_terminal(&self) -> bool {
        self.process_status.is_some_and(ProcessStatus::is_terminal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_is_completed_but_needs_attention() {
        let mut run = RunView::queued(
            "run_1".into(),
            &FlowEvent::new("e", "t", Value::Null),
            "f",
            "s",
            false,
        );
        assert_eq!(run.effective_status, EffectiveStatus::Queued);
        run.process_status = Some(ProcessStatus::Completed);
        run.result = Some(FlowResult::with_status(FlowResultStatus::Blocked));
        run.refresh();
        assert_eq!(run.effective_status, EffectiveStatus::Blocked);
        assert!(run.needs_attention);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["processStatus"], "completed");
        assert_eq!(json["effectiveStatus"], "blocked");
        assert_eq!(json["needsAttention"], true);
        assert_eq!(EffectiveStatus::of(None, None).as_str(), "unknown");
    }
}
