//! Error policies, per-run timeout and stop modes on paused tokio time.

mod support;

use std::time::Duration;

use codex_automation::{
    spawn_with, AutomationError, AutomationOptions, AutomationSpec, AutomationState, Backoff,
    ErrorPolicy, StopMode,
};
use support::{at, base, clock_at, FakeTarget, Step};

fn spec(every: u64) -> AutomationSpec {
    AutomationSpec {
        prompt: "work".to_string(),
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

const S: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test(start_paused = true)]
async fn a_turn_error_stops_the_runner_with_last_error() {
    let target = fake();
    target.script([Step::Ok(S(1)), Step::Fail(S(2), "model overloaded")]);
    let handle = spawn_with(target.clone(), spec(10), options());
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    assert_eq!(status.runs_done, 2);
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.last_outcome.as_deref(), Some("ok #1"));
    assert_eq!(status.last_ended_at, Some(at(12)));
    match status.last_error {
        Some(AutomationError::TurnFailed { run: 2, failure }) => {
            assert_eq!(failure.message(), "model overloaded")
        }
        other => panic!("unexpected last_error {other:?}"),
    }
    tokio::time::sleep(S(100)).await;
    assert_eq!(target.calls().len(), 2, "no run after the failure");
}

#[tokio::test(start_paused = true)]
async fn continue_policy_retries_with_exponential_backoff_up_to_a_cap() {
    let target = fake();
    target.script([
        Step::Fail(S(0), "1"),
        Step::Fail(S(0), "2"),
        Step::Ok(S(0)),
        Step::Fail(S(0), "3"),
        Step::Fail(S(0), "4"),
        Step::Fail(S(0), "5"),
        Step::Fail(S(0), "6"),
    ]);
    let handle = spawn_with(
        target.clone(),
        spec(100),
        options().error_policy(ErrorPolicy::Continue {
            backoff: Backoff::exponential(S(1), S(3)),
            max_consecutive_failures: 4,
        }),
    );
    let status = handle.wait().await;
    // Retries 1 s and 2 s after failures; a success returns to the grid (100); then delays of
    // 1, 2 and 3 s (4 s capped at 3 s) until the fourth failure in a row stops it.
    assert_eq!(
        target.starts(),
        vec![0.0, 1.0, 3.0, 100.0, 101.0, 103.0, 106.0]
    );
    assert_eq!(status.state, AutomationState::Failed);
    assert_eq!(status.consecutive_failures, 4);
    assert_eq!(status.runs_done, 7);
    match status.last_error {
        Some(AutomationError::TooManyFailures { failures: 4, last }) => {
            assert!(matches!(*last, AutomationError::TurnFailed { run: 7, .. }))
        }
        other => panic!("unexpected last_error {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn continue_policy_keeps_the_outcome_and_error_visible() {
    let target = fake();
    target.script([Step::Fail(S(0), "flaky"), Step::Ok(S(0))]);
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(2),
            ..spec(100)
        },
        options().error_policy(ErrorPolicy::Continue {
            backoff: Backoff::exponential(S(5), S(60)),
            max_consecutive_failures: 3,
        }),
    );
    tokio::time::sleep(S(1)).await;
    let between = handle.status();
    assert_eq!(between.state, AutomationState::Waiting);
    assert_eq!(between.next_due, Some(at(5)), "the retry shows as next due");
    assert_eq!(between.consecutive_failures, 1);
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.last_outcome.as_deref(), Some("ok #2"));
    assert!(
        status.last_error.is_some(),
        "the earlier failure stays visible"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_finish_lets_the_turn_finish() {
    let target = fake();
    target.default_step(Step::Ok(S(50)));
    let handle = spawn_with(target.clone(), spec(10), options());
    tokio::time::sleep(S(10)).await;
    assert_eq!(handle.status().state, AutomationState::Running);
    let status = handle.stop(StopMode::Finish).await;
    assert_eq!(status.state, AutomationState::Stopped);
    assert_eq!(status.runs_done, 1);
    assert_eq!(
        status.last_ended_at,
        Some(at(50)),
        "the turn ran to its end"
    );
    assert_eq!(status.last_outcome.as_deref(), Some("ok #1"));
    assert!(status.last_error.is_none());
    assert_eq!(target.interrupts(), 0);
    tokio::time::sleep(S(100)).await;
    assert_eq!(target.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stop_interrupt_interrupts_the_turn() {
    let target = fake();
    target.default_step(Step::Ok(S(50)));
    let handle = spawn_with(target.clone(), spec(10), options());
    tokio::time::sleep(S(10)).await;
    let status = handle.stop(StopMode::Interrupt).await;
    assert_eq!(status.state, AutomationState::Stopped);
    assert_eq!(target.interrupts(), 1);
    assert_eq!(status.runs_done, 1);
    assert_eq!(
        status.last_ended_at,
        Some(at(10)),
        "the turn ended when interrupted"
    );
    assert!(matches!(
        &status.last_error,
        Some(AutomationError::TurnFailed { run: 1, failure }) if failure.message() == "interrupted"
    ));
    tokio::time::sleep(S(100)).await;
    assert_eq!(target.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stop_while_waiting_stops_at_once() {
    let target = fake();
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            start_at: Some(at(60)),
            ..spec(10)
        },
        options(),
    );
    tokio::time::sleep(S(5)).await;
    let status = handle.stop(StopMode::Finish).await;
    assert_eq!(status.state, AutomationState::Stopped);
    assert_eq!(status.next_due, None);
    assert!(target.calls().is_empty());
    assert_eq!(target.interrupts(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_interrupted_and_fails() {
    let target = fake();
    target.script([Step::Ok(S(1)), Step::Ok(S(60))]);
    let handle = spawn_with(target.clone(), spec(10), options().run_timeout(S(5)));
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    assert_eq!(target.interrupts(), 1);
    assert_eq!(status.runs_done, 2);
    assert_eq!(status.last_ended_at, Some(at(15)));
    assert!(matches!(
        status.last_error,
        Some(AutomationError::TimedOut { run: 2, timeout }) if timeout == S(5)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_turn_deaf_to_interrupts_is_abandoned_after_the_grace_period() {
    let target = fake();
    target.script([Step::Deaf(S(3600))]);
    let handle = spawn_with(
        target.clone(),
        spec(10),
        options().run_timeout(S(5)).interrupt_grace(S(2)),
    );
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Failed);
    assert_eq!(status.last_ended_at, Some(at(7)));
    assert!(matches!(
        status.last_error,
        Some(AutomationError::InterruptUnanswered { run: 1, grace }) if grace == S(2)
    ));
}

#[tokio::test(start_paused = true)]
async fn timeouts_under_the_continue_policy_retry() {
    let target = fake();
    target.script([Step::Ok(S(60))]);
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            max_runs: Some(2),
            ..spec(100)
        },
        options()
            .run_timeout(S(5))
            .error_policy(ErrorPolicy::Continue {
                backoff: Backoff::exponential(S(1), S(1)),
                max_consecutive_failures: 2,
            }),
    );
    let status = handle.wait().await;
    assert_eq!(target.starts(), vec![0.0, 6.0]);
    assert_eq!(status.state, AutomationState::Finished);
    assert_eq!(status.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_request_upgrades_an_earlier_finish_request() {
    let target = fake();
    target.default_step(Step::Ok(S(50)));
    let handle = spawn_with(target.clone(), spec(10), options());
    tokio::time::sleep(S(10)).await;
    handle.request_stop(StopMode::Finish);
    tokio::time::sleep(S(10)).await;
    assert_eq!(handle.status().state, AutomationState::Running);
    let status = handle.stop(StopMode::Interrupt).await;
    assert_eq!(status.state, AutomationState::Stopped);
    assert_eq!(status.last_ended_at, Some(at(20)));
    assert_eq!(target.interrupts(), 1);
}
