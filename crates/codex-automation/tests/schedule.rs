//! Interval schedules on paused tokio time: start_at, every, stop_at, max_runs, missed ticks,
//! no overlap, invalid spec, jitter, reports.

mod support;

use std::time::Duration;

use codex_automation::{
    spawn, spawn_with, try_spawn, AutomationError, AutomationOptions, AutomationSpec,
    AutomationState,
};
use support::{at, base, clock_at, secs, FakeTarget, Step};
use tokio::sync::broadcast::error::RecvError;

fn spec(every: u64) -> AutomationSpec {
    AutomationSpec {
        prompt: "tick".to_string(),
        start_at: None,
        every: Duration::from_secs(every),
        stop_at: None,
        max_runs: None,
    }
}

fn options() -> AutomationOptions {
    AutomationOptions::new().clock(clock_at(base()))
}

fn fake() -> FakeTarget {
    FakeTarget::new(clock_at(base()))
}

#[tokio::test(start_paused = true)]
async fn start_at_delays_the_first_run() {
    let target = fake();
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            start_at: Some(at(100)),
            max_runs: Some(1),
            ..spec(10)
        },
        options(),
    );
    assert_eq!(handle.status().state, AutomationState::Waiting);
    tokio::time::sleep(Duration::from_secs(50)).await;
    let waiting = handle.status();
    assert_eq!(waiting.state, AutomationState::Waiting);
    assert_eq!(waiting.next_due, Some(at(100)));
    assert!(target.calls().is_empty());

    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(target.starts(), vec![100.0]);
    assert_eq!(target.calls()[0].prompt, "tick");
}

#[tokio::test(start_paused = true)]
async fn every_spaces_runs_on_a_grid_from_the_first_run() {
    let target = fake();
    target.default_step(Step::Ok(Duration::from_secs(3)));
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(4),
            ..spec(10)
        },
        options(),
    );
    let status = handle.wait().await;
    // Due times are anchored to the first run, not to the end of the previous run.
    assert_eq!(target.starts(), vec![0.0, 10.0, 20.0, 30.0]);
    assert_eq!(status.runs_done, 4);
    assert_eq!(status.last_started_at, Some(at(30)));
    assert_eq!(status.last_ended_at, Some(at(33)));
    assert_eq!(status.last_outcome.as_deref(), Some("ok #4"));
    assert!(status.last_error.is_none());
    assert_eq!(status.next_due, None);
}

#[tokio::test(start_paused = true)]
async fn stop_at_bounds_the_starts() {
    let target = fake();
    target.default_step(Step::Ok(Duration::from_secs(8)));
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            stop_at: Some(at(30)),
            ..spec(10)
        },
        options(),
    );
    let status = handle.wait().await;
    // A run due exactly at stop_at does not start; the run in flight before it finishes.
    assert_eq!(target.starts(), vec![0.0, 10.0, 20.0]);
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(status.runs_done, 3);
    assert_eq!(status.last_ended_at, Some(at(28)));
}

#[tokio::test(start_paused = true)]
async fn max_runs_finishes_the_automation() {
    let target = fake();
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(2),
            ..spec(5)
        },
        options(),
    );
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(status.runs_done, 2);
    assert_eq!(target.starts(), vec![0.0, 5.0]);
    // Nothing more happens later.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(target.calls().len(), 2);

    let none = fake();
    let handle = spawn_with(
        none.clone(),
        AutomationSpec {
            max_runs: Some(0),
            ..spec(5)
        },
        options(),
    );
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    assert!(none.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_collapse_into_one_run() {
    let target = fake();
    target.script([Step::Ok(Duration::from_secs(35))]);
    target.default_step(Step::Ok(Duration::from_secs(1)));
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(3),
            ..spec(10)
        },
        options(),
    );
    handle.wait().await;
    // Ticks at 10, 20 and 30 pass during the first run: one run at 35, then back on the grid.
    assert_eq!(target.starts(), vec![0.0, 35.0, 40.0]);
}

#[tokio::test(start_paused = true)]
async fn never_two_runs_in_flight_even_when_a_turn_outlasts_every() {
    let target = fake();
    target.default_step(Step::Ok(Duration::from_millis(2500)));
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(5),
            ..spec(1)
        },
        options(),
    );
    let status = handle.wait().await;
    assert_eq!(status.runs_done, 5);
    assert_eq!(target.max_in_flight(), 1);
    let calls = target.calls();
    for pair in calls.windows(2) {
        assert!(pair[1].started >= pair[0].ended.expect("ended"));
    }
    assert_eq!(target.starts(), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
}

#[tokio::test(start_paused = true)]
async fn zero_every_is_rejected_with_a_typed_error() {
    let target = fake();
    let handle = spawn(target.clone(), spec(0));
    let status = handle.status();
    assert_eq!(status.state, AutomationState::Failed);
    assert!(matches!(
        status.last_error,
        Some(AutomationError::InvalidInterval { every }) if every.is_zero()
    ));
    let waited = handle.wait().await;
    assert_eq!(waited.state, AutomationState::Failed);

    let err = try_spawn(target.clone(), spec(0)).expect_err("every = 0 must be rejected");
    assert!(matches!(err, AutomationError::InvalidInterval { .. }));
    assert!(err
        .to_string()
        .contains("`every` must be greater than zero"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(target.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn invalid_options_are_rejected() {
    let err =
        codex_automation::try_spawn_with(fake(), spec(1), options().run_timeout(Duration::ZERO))
            .expect_err("zero timeout");
    assert!(matches!(
        err,
        AutomationError::InvalidOption {
            option: "run_timeout",
            ..
        }
    ));
}

#[test]
fn spawn_outside_a_runtime_gives_a_failed_handle() {
    let target = FakeTarget::new(std::sync::Arc::new(codex_automation::SystemClock));
    let handle = spawn(target, spec(1));
    let status = handle.status();
    assert_eq!(status.state, AutomationState::Failed);
    assert!(matches!(
        status.last_error,
        Some(AutomationError::NoRuntime)
    ));
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_bound_and_is_reproducible_with_a_seed() {
    async fn starts(seed: u64) -> Vec<f64> {
        let target = fake();
        let handle = spawn_with(
            target.clone(),
            AutomationSpec {
                max_runs: Some(20),
                ..spec(100)
            },
            options().jitter(Duration::from_secs(10)).jitter_seed(seed),
        );
        handle.wait().await;
        target.starts()
    }
    let first = starts(7).await;
    assert_eq!(first.len(), 20);
    let mut offsets = Vec::new();
    for (k, start) in first.iter().enumerate() {
        let offset = start - 100.0 * k as f64;
        assert!(
            (0.0..=10.0).contains(&offset),
            "run {k} at {start}: offset {offset} outside [0, 10]"
        );
        offsets.push(offset);
    }
    // The delay is random, not a constant.
    offsets.dedup();
    assert!(offsets.len() > 1, "all offsets equal: {offsets:?}");
    assert_eq!(starts(7).await, first, "same seed, same schedule");
    assert_ne!(starts(8).await, first, "another seed, another schedule");
}

#[tokio::test(start_paused = true)]
async fn subscribers_get_a_report_per_run_and_see_the_end() {
    let target = fake();
    target.script([
        Step::Ok(Duration::from_secs(1)),
        Step::Fail(Duration::from_secs(2), "boom"),
    ]);
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(3),
            ..spec(10)
        },
        options(),
    );
    let mut reports = handle.subscribe();
    let first = reports.recv().await.expect("report 1");
    assert_eq!(first.run_number, 1);
    assert_eq!((secs(first.started_at), secs(first.ended_at)), (0.0, 1.0));
    assert_eq!(first.result.as_deref().ok(), Some("ok #1"));
    let second = reports.recv().await.expect("report 2");
    assert_eq!(second.run_number, 2);
    assert!(matches!(
        &second.result,
        Err(AutomationError::TurnFailed { run: 2, failure }) if failure.message() == "boom"
    ));
    // The default policy stopped the automation: no third run, and the stream ends.
    assert!(matches!(reports.recv().await, Err(RecvError::Closed)));
    assert_eq!(handle.status().state, AutomationState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_lagging_subscriber_loses_the_oldest_reports_and_is_told() {
    let target = fake();
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(5),
            ..spec(1)
        },
        options().report_capacity(2),
    );
    let mut reports = handle.subscribe();
    handle.wait().await;
    assert!(matches!(reports.recv().await, Err(RecvError::Lagged(3))));
    assert_eq!(reports.recv().await.expect("report 4").run_number, 4);
    assert_eq!(reports.recv().await.expect("report 5").run_number, 5);
    assert!(matches!(reports.recv().await, Err(RecvError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_and_detach_does_not() {
    let dropped = fake();
    let handle = spawn_with(dropped.clone(), spec(10), options());
    tokio::time::sleep(Duration::from_secs(15)).await;
    drop(handle);
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(dropped.starts(), vec![0.0, 10.0]);

    let detached = fake();
    let handle = spawn_with(
        detached.clone(),
        AutomationSpec {
            max_runs: Some(4),
            ..spec(10)
        },
        options(),
    );
    handle.detach();
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(detached.calls().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_turn_is_a_failed_run() {
    let target = fake();
    target.script([Step::Panic]);
    let handle = spawn_with(target.clone(), spec(10), options());
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    let error = status.last_error.expect("error");
    assert!(error.to_string().contains("scripted panic"), "{error}");
}

/// A target whose `run_turn` panics before it returns a future.
struct EagerPanic;

impl codex_automation::AutomationTarget for EagerPanic {
    type Outcome = ();
    fn run_turn<'a>(
        &'a self,
        _prompt: &'a str,
    ) -> codex_automation::BoxFuture<'a, Result<(), codex_automation::TurnFailure>> {
        panic!("panicked while building the turn")
    }
    fn interrupt<'a>(
        &'a self,
    ) -> codex_automation::BoxFuture<'a, Result<(), codex_automation::TurnFailure>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_before_the_turn_future_exists_is_a_failed_run() {
    let handle = spawn_with(EagerPanic, spec(10), options());
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    assert_eq!(status.runs_done, 1);
    let error = status.last_error.expect("error");
    assert!(matches!(error, AutomationError::TurnFailed { run: 1, .. }));
    assert!(
        error
            .to_string()
            .contains("panicked while building the turn"),
        "{error}"
    );
}
