//! Deterministic run and attempt ids.

use sha2::{Digest, Sha256};

/// The run id of `step` of `flow` for event `event_id`: `run_` + the first 12 hex digits of
/// sha256(`eventId\0flowName\0stepName[\0nonce]`). Replays pass a nonce so they get new ids.
///
/// ```
/// let a = codex_flow::ids::run_id("evt-1", "release", "notify", None);
/// assert!(a.starts_with("run_") && a.len() == 16);
/// assert_eq!(a, codex_flow::ids::run_id("evt-1", "release", "notify", None));
/// assert_ne!(a, codex_flow::ids::run_id("evt-1", "release", "notify", Some("replay:1")));
/// ```
pub fn run_id(event_id: &str, flow: &str, step: &str, nonce: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(event_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(flow.as_bytes());
    hasher.update([0u8]);
    hasher.update(step.as_bytes());
    if let Some(nonce) = nonce {
        hasher.update([0u8]);
        hasher.update(nonce.as_bytes());
    }
    let digest = hex::encode(hasher.finalize());
    format!("run_{}", &digest[..12])
}

/// The id of attempt number `attempt_number` (1-based) of run `run_id`.
pub fn attempt_id(run_id: &str, attempt_number: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(run_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(attempt_number.to_string().as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("att_{}", &digest[..12])
}

/// The nonce that gives replay number `replay_number` (1-based) its run ids.
pub fn replay_nonce(replay_number: u32) -> String {
    format!("replay:{replay_number}")
}
