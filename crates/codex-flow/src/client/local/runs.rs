//! Executing the local client's runs: slots (per client and per flow), the step itself, cancel
//! and its watcher, recording the outcome, `next` events, and the recovery of runs abandoned by
//! a process that died.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Inner, RunJob};
use crate::client::DispatchStatus;
use crate::context::RuntimeMetadata;
use crate::error::Result;
use crate::ids::attempt_id;
use crate::progress::ProgressEvent;
use crate::run_view::{AttemptView, ProcessStatus, RunOutput, RunView};
use crate::state::StateStore;
use crate::step_runner::StepOutcome;
use crate::timestamp::now_rfc3339;

impl Inner {
    /// Runs the jobs of one event in order on a tracked task. With `wait`, returns when they
    /// are over; dropping that future cancels them (their steps are killed and they record
    /// `canceled`), so no run stays `running` behind a caller that went away.
    pub(super) async fn execute(self: &Arc<Self>, jobs: Vec<RunJob>, wait: bool) {
        if jobs.is_empty() {
            return;
        }
        let tokens: Vec<_> = jobs.iter().map(|j| j.cancel.clone()).collect();
        let this = self.clone();
        let handle = self.tasks.spawn(async move {
            for job in jobs {
                this.run_job(job, wait).await;
            }
        });
        if wait {
            let mut guard = CancelOnDrop(tokens);
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "flow run task failed");
            }
            // Finished: nothing left to cancel.
            guard.0.clear();
        }
    }

    async fn run_job(self: &Arc<Self>, job: RunJob, wait: bool) {
        let run_id = job.run_id.clone();
        if let Err(e) = self.run_job_inner(job, wait).await {
            tracing::error!(run_id, error = %e, "flow run could not be recorded");
        }
        self.finished.notify_waiters();
    }

    async fn run_job_inner(self: &Arc<Self>, job: RunJob, wait: bool) -> Result<()> {
        let worker = worker_id();
        let id = job.run_id.clone();
        let token = job.cancel.clone();
        let permits = tokio::select! {
            permits = self.limits.acquire(&job.matched.flow) => Some(permits),
            _ = token.cancelled() => None,
        };
        let Some(permits) = permits.filter(|_| !token.is_cancelled()) else {
            self.cancel_queued(&id).await?;
            return Ok(());
        };
        let started = self
            .update_run(&id, {
                let id = id.clone();
                move |run| {
                    if run.process_status != Some(ProcessStatus::Queued) {
                        return false;
                    }
                    let now = now_rfc3339();
                    let number = run.attempts.len() as u32 + 1;
                    run.process_status = Some(ProcessStatus::Running);
                    run.owner = Some(worker.clone());
                    run.started_at = Some(now.clone());
                    run.attempts.push(AttemptView {
                        id: attempt_id(&id, number),
                        status: Some(ProcessStatus::Running),
                        attempt_number: number,
                        worker_id: Some(worker.clone()),
                        lease_expires_at: None,
                        started_at: Some(now),
                        finished_at: None,
                        exit_code: None,
                        error: None,
                        extra: Default::default(),
                    });
                    true
                }
            })
            .await?;
        if started.process_status != Some(ProcessStatus::Running) {
            tracing::debug!(run_id = %id, "run not started: no longer queued");
            return Ok(());
        }
        let attempt = started.attempts.last().map(|a| a.id.clone());
        if let Ok(mut active) = self.active.lock() {
            active.insert(id.clone(), token.clone());
        }
        let watcher = self.store.blocks().then(|| {
            let this = self.clone();
            let token = token.clone();
            let id = id.clone();
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                    }
                    if let Ok(run) = this.get_run(&id).await {
                        if run.cancel_requested {
                            token.cancel();
                            break;
                        }
                    }
                }
            }))
        });
        let flow = job.matched.flow.clone();
        let step = job.matched.step();
        (self.progress)(&ProgressEvent::Started {
            run_id: Some(id.clone()),
            flow: flow.name().to_string(),
            step: step.name().to_string(),
        });
        let runtime = RuntimeMetadata {
            event_id: job.event.id.clone(),
            run_id: Some(id.clone()),
            attempt_id: attempt.clone(),
            replay: job.replay,
            workspace_backend_url: None,
            launched_by: None,
        };
        let outcome = self
            .runner
            .run(&flow, step, &job.event, runtime, &token, &self.progress)
            .await;
        drop(watcher);
        if let Ok(mut active) = self.active.lock() {
            active.remove(&id);
        }

        let mut notes = Vec::new();
        let mut next_events = Vec::new();
        if let Some(next) = outcome.result.as_ref().and_then(|r| r.next.clone()) {
            if next.is_empty() {
            } else if !self.config.dispatch_next {
                notes.push(format!(
                    "{} next event(s) not dispatched: next-event dispatch is disabled",
                    next.len()
                ));
            } else if job.depth + 1 > self.config.max_next_depth {
                tracing::warn!(run_id = %id, limit = self.config.max_next_depth, "next-event depth limit reached");
                for event in &next {
                    notes.push(format!(
                        "next event `{}` not dispatched: depth limit {} reached",
                        event.id, self.config.max_next_depth
                    ));
                }
            } else {
                next_events = next;
            }
        }

        let StepOutcome {
            process_status,
            result,
            error,
            exit_code,
            stdout,
            stderr,
        } = outcome;
        let error_text = error.as_ref().map(ToString::to_string);
        let finished = {
            let error_text = error_text.clone();
            let attempt = attempt.clone();
            let mut payload = Some((result, stdout, stderr, notes));
            self.update_run(&id, move |run| {
                let Some((result, stdout, stderr, notes)) = payload.take() else {
                    return false;
                };
                let now = now_rfc3339();
                run.process_status = Some(process_status);
                run.result = result;
                if run.result.is_none() {
                    run.result_status = None;
                }
                run.error = error_text.clone();
                run.finished_at = Some(now.clone());
                if let Some(a) = run.attempts.last_mut() {
                    a.status = Some(process_status);
                    a.finished_at = Some(now);
                    a.exit_code = exit_code;
                    a.error = error_text.clone();
                }
                run.output.push(RunOutput {
                    attempt_id: attempt.clone(),
                    stdout,
                    stderr,
                });
                run.notes.extend(notes);
                true
            })
            .await?
        };
        // The step is over: its slots go to the next runs before any `next` event is
        // dispatched (a waiting `next` dispatch needs slots of its own).
        drop(permits);
        (self.progress)(&ProgressEvent::Finished {
            run_id: Some(id.clone()),
            flow: flow.name().to_string(),
            step: step.name().to_string(),
            status: finished.effective_status.as_str().to_string(),
            error: error_text,
        });
        self.finished.notify_waiters();

        for event in next_events {
            let note = match event.validate() {
                Err(e) => Some(format!("next event `{}` not dispatched: {e}", event.id)),
                Ok(()) => match self.dispatch(event.clone(), job.depth + 1, wait).await {
                    Ok(response) if response.status == DispatchStatus::Duplicate => Some(format!(
                        "next event `{}` was already stored: nothing ran",
                        event.id
                    )),
                    Ok(_) => None,
                    Err(e) => Some(format!("next event `{}` not dispatched: {e}", event.id)),
                },
            };
            if let Some(note) = note {
                tracing::warn!(run_id = %id, "{note}");
                self.update_run(&id, move |run| {
                    run.notes.push(note.clone());
                    true
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Records a run that was canceled while it waited for a slot.
    async fn cancel_queued(&self, run_id: &str) -> Result<()> {
        self.update_run(run_id, |run| {
            if run.process_status != Some(ProcessStatus::Queued) {
                return false;
            }
            run.process_status = Some(ProcessStatus::Canceled);
            run.finished_at = Some(now_rfc3339());
            run.error = Some("canceled before it started".into());
            true
        })
        .await?;
        Ok(())
    }

    pub(super) async fn cancel(&self, run_id: &str) -> Result<RunView> {
        let run = self
            .update_run(run_id, |run| match run.process_status {
                Some(ProcessStatus::Queued) => {
                    run.process_status = Some(ProcessStatus::Canceled);
                    run.finished_at = Some(now_rfc3339());
                    run.error = Some("canceled before it started".into());
                    true
                }
                Some(ProcessStatus::Running) if !run.cancel_requested => {
                    run.cancel_requested = true;
                    true
                }
                _ => false,
            })
            .await?;
        if let Ok(active) = self.active.lock() {
            if let Some(token) = active.get(run_id) {
                token.cancel();
            }
        }
        self.finished.notify_waiters();
        Ok(run)
    }
}

/// `pid:<n>` of this process.
pub(super) fn worker_id() -> String {
    format!("pid:{}", std::process::id())
}

/// Whether the local process `owner` (`pid:<n>`) has ended.
fn owner_is_gone(owner: &str) -> bool {
    let Some(pid) = owner
        .strip_prefix("pid:")
        .and_then(|p| p.parse::<libc::pid_t>().ok())
    else {
        return false;
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Marks failed the queued or running runs whose owning process ended before they finished
/// (for example a `codex-flow fire` killed mid-way), so they do not stay `running` forever; one
/// with a cancel requested ends `canceled` instead.
pub(super) fn recover_abandoned_runs(store: &dyn StateStore) -> Result<()> {
    for run in store.unfinished_runs()? {
        let Some(owner) = run.owner.clone().filter(|o| owner_is_gone(o)) else {
            continue;
        };
        store.update_run(&run.id, &mut |r| {
            if r.is_terminal() || r.owner.as_deref() != Some(owner.as_str()) {
                return false;
            }
            let now = now_rfc3339();
            // A run whose cancel was requested ends canceled: it is never started again.
            let (status, message) = if r.cancel_requested {
                (
                    ProcessStatus::Canceled,
                    format!("canceled: process {owner} ended before the cancel completed"),
                )
            } else {
                (
                    ProcessStatus::Failed,
                    format!("abandoned: process {owner} ended before the run finished"),
                )
            };
            r.process_status = Some(status);
            r.error = Some(message.clone());
            r.finished_at = Some(now.clone());
            if let Some(a) = r.attempts.last_mut() {
                if !a.status.is_some_and(ProcessStatus::is_terminal) {
                    a.status = Some(status);
                    a.finished_at = Some(now);
                    a.error = Some(message);
                }
            }
            true
        })?;
        tracing::warn!(run_id = %run.id, owner, "abandoned run marked failed");
    }
    Ok(())
}

/// Cancels the runs of a waiting dispatch whose future is dropped.
struct CancelOnDrop(Vec<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        for token in &self.0 {
            token.cancel();
        }
    }
}

/// Aborts a background task (a run's cancel watcher) when the run's execution ends, however it
/// ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FlowEvent;
    use crate::state::{EventRecord, MemoryStore};

    /// A pid that is not running: a reaped child's.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn recovery_ends_a_cancel_requested_run_canceled_and_others_failed() {
        let store = MemoryStore::new(10);
        let event = FlowEvent::from_value(serde_json::json!({"id": "e", "type": "go"})).unwrap();
        let owner = format!("pid:{}", dead_pid());
        let mut runs = Vec::new();
        for (id, cancel) in [("run_a", true), ("run_b", false)] {
            let mut run = RunView::queued(id.into(), &event, "f", "s", false);
            run.process_status = Some(ProcessStatus::Running);
            run.owner = Some(owner.clone());
            run.cancel_requested = cancel;
            runs.push(run);
        }
        let record = EventRecord {
            event: event.clone(),
            run_ids: vec!["run_a".into(), "run_b".into()],
            replays: 0,
            depth: 0,
            stored_at: String::new(),
        };
        store.claim_event(&record, &runs).unwrap();
        recover_abandoned_runs(&store).unwrap();
        let a = store.get_run("run_a").unwrap().unwrap();
        assert_eq!(a.process_status, Some(ProcessStatus::Canceled), "{a:?}");
        let b = store.get_run("run_b").unwrap().unwrap();
        assert_eq!(b.process_status, Some(ProcessStatus::Failed), "{b:?}");
    }
}
