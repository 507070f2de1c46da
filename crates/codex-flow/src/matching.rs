//! Matching an event to steps: exact event type, then the payload against the compiled schema.
//! Every match is a run (fan-out), in discovery order then manifest order.

use std::sync::Arc;

use crate::catalog::{FlowCatalog, LoadedFlow, LoadedStep};
use crate::event::FlowEvent;
use crate::payload_schema::PayloadViolation;

/// A step that an event triggers.
#[derive(Debug, Clone)]
pub struct StepMatch {
    /// The flow.
    pub flow: Arc<LoadedFlow>,
    /// Index of the step in `flow.steps`.
    pub step_index: usize,
}

impl StepMatch {
    /// The matched step.
    pub fn step(&self) -> &LoadedStep {
        &self.flow.steps[self.step_index]
    }
}

/// A step whose trigger type matched but whose schema refused the payload.
#[derive(Debug, Clone)]
pub struct SchemaMismatch {
    /// The flow name.
    pub flow: String,
    /// The step name.
    pub step: String,
    /// Why the payload does not validate.
    pub violations: Vec<PayloadViolation>,
}

impl FlowCatalog {
    /// The steps `event` triggers, in discovery order then manifest order.
    ///
    /// ```
    /// let catalog = codex_flow::FlowCatalog::default();
    /// let event = codex_flow::FlowEvent::new("e1", "upstream.release", serde_json::json!({}));
    /// assert!(catalog.match_event(&event).is_empty());
    /// ```
    pub fn match_event(&self, event: &FlowEvent) -> Vec<StepMatch> {
        self.candidates(&event.event_type)
            .iter()
            .filter_map(|&(fi, si)| {
                let flow = &self.flows()[fi];
                let step = &flow.steps[si];
                let ok = step
                    .schema
                    .as_ref()
                    .is_none_or(|schema| schema.is_valid(&event.payload));
                ok.then(|| StepMatch {
                    flow: flow.clone(),
                    step_index: si,
                })
            })
            .collect()
    }

    /// Like [`FlowCatalog::match_event`], also explaining which same-type steps refused the
    /// payload and why (JSON pointer and reason).
    pub fn explain_match(&self, event: &FlowEvent) -> (Vec<StepMatch>, Vec<SchemaMismatch>) {
        let mut matches = Vec::new();
        let mut mismatches = Vec::new();
        for &(fi, si) in self.candidates(&event.event_type) {
            let flow = &self.flows()[fi];
            let step = &flow.steps[si];
            match step.schema.as_ref().map(|s| s.check(&event.payload)) {
                Some(Err(violations)) => mismatches.push(SchemaMismatch {
                    flow: flow.name().to_string(),
                    step: step.name().to_string(),
                    violations,
                }),
                _ => matches.push(StepMatch {
                    flow: flow.clone(),
                    step_index: si,
                }),
            }
        }
        (matches, mismatches)
    }
}
