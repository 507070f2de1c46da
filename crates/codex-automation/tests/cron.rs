//! Cron schedules: next-due computation across DST changes, and cron-driven runs.

mod support;

use std::time::{Duration, SystemTime};

use codex_automation::{
    spawn_with, AutomationError, AutomationOptions, AutomationSpec, AutomationState, CronSchedule,
};
use support::{clock_at, FakeTarget};

fn utc(text: &str) -> SystemTime {
    SystemTime::from(chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339"))
}

/// The next `n` occurrences strictly after `from`, chaining each result.
fn next_n(schedule: &CronSchedule, from: &str, n: usize) -> Vec<SystemTime> {
    let mut out = Vec::new();
    let mut cursor = utc(from);
    for _ in 0..n {
        cursor = schedule
            .next_after(cursor)
            .expect("search")
            .expect("an occurrence");
        out.push(cursor);
    }
    out
}

#[test]
fn daily_0230_in_berlin_across_spring_forward() {
    let daily = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
    // 2025-03-30 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day, so the run is
    // at the first instant after the gap (03:00 CEST = 01:00Z), once.
    assert_eq!(
        next_n(&daily, "2025-03-28T12:00:00Z", 4),
        vec![
            utc("2025-03-29T02:30:00+01:00"),
            utc("2025-03-30T03:00:00+02:00"),
            utc("2025-03-31T02:30:00+02:00"),
            utc("2025-04-01T02:30:00+02:00"),
        ]
    );
}

#[test]
fn daily_0230_in_berlin_across_fall_back() {
    let daily = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
    // 2025-10-26 03:00 CEST falls back to 02:00 CET: 02:30 happens twice; the job runs once,
    // at the first (CEST) one.
    assert_eq!(
        next_n(&daily, "2025-10-25T12:00:00Z", 3),
        vec![
            utc("2025-10-26T02:30:00+02:00"),
            utc("2025-10-27T02:30:00+01:00"),
            utc("2025-10-28T02:30:00+01:00"),
        ]
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    let daily = CronSchedule::parse("30 2 * * *", "America/New_York").unwrap();
    assert_eq!(
        next_n(&daily, "2025-03-08T00:00:00Z", 3),
        vec![
            utc("2025-03-08T02:30:00-05:00"),
            utc("2025-03-09T03:00:00-04:00"),
            utc("2025-03-10T02:30:00-04:00"),
        ]
    );
    // In New York the repeated hour is 01:00-02:00; a daily 01:30 job runs once that night.
    let early = CronSchedule::parse("30 1 * * *", "America/New_York").unwrap();
    assert_eq!(
        next_n(&early, "2025-11-01T12:00:00Z", 2),
        vec![
            utc("2025-11-02T01:30:00-04:00"),
            utc("2025-11-03T01:30:00-05:00")
        ]
    );
}

#[test]
fn next_at_or_after_and_latest_at_or_before() {
    let hourly = CronSchedule::parse("0 * * * *", "UTC").unwrap();
    let on = utc("2030-01-01T05:00:00Z");
    assert_eq!(hourly.next_at_or_after(on).unwrap(), Some(on));
    assert_eq!(
        hourly.next_after(on).unwrap(),
        Some(utc("2030-01-01T06:00:00Z"))
    );
    let just_after = on + Duration::from_millis(1);
    assert_eq!(
        hourly.next_at_or_after(just_after).unwrap(),
        Some(utc("2030-01-01T06:00:00Z"))
    );
    assert_eq!(
        hourly
            .latest_at_or_before(utc("2030-01-01T05:59:59Z"))
            .unwrap(),
        Some(on)
    );
    assert_eq!(hourly.latest_at_or_before(on).unwrap(), Some(on));
}

#[test]
fn bad_expressions_and_zones_are_typed_errors() {
    let err = CronSchedule::parse("61 * * * *", "UTC").expect_err("minute 61");
    assert!(
        matches!(&err, AutomationError::InvalidCron { expression, .. } if expression == "61 * * * *")
    );
    let err = CronSchedule::parse("0 * * * *", "Mars/Olympus").expect_err("no such zone");
    assert!(matches!(&err, AutomationError::UnknownTimeZone { name } if name == "Mars/Olympus"));
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_drives_the_runs_and_shows_the_next_due_time() {
    let base = utc("2025-03-29T11:00:00Z");
    let clock = clock_at(base);
    let target = FakeTarget::new(clock.clone());
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            prompt: "nightly".into(),
            start_at: None,
            // Replaced by the cron schedule; must still be > 0.
            every: Duration::from_secs(1),
            stop_at: None,
            max_runs: Some(3),
        },
        AutomationOptions::new()
            .clock(clock)
            .cron(CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap()),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(handle.status().next_due, Some(utc("2025-03-30T01:00:00Z")));
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    let starts: Vec<SystemTime> = target.calls().iter().map(|c| c.started).collect();
    assert_eq!(
        starts,
        vec![
            utc("2025-03-30T01:00:00Z"),
            utc("2025-03-31T00:30:00Z"),
            utc("2025-04-01T00:30:00Z"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cron_with_start_at_begins_at_the_first_occurrence_after_it() {
    let base = utc("2030-01-01T00:00:00Z");
    let clock = clock_at(base);
    let target = FakeTarget::new(clock.clone());
    let handle = spawn_with(
        target.clone(),
        AutomationSpec {
            prompt: "p".into(),
            start_at: Some(utc("2030-01-01T10:20:00Z")),
            every: Duration::from_secs(1),
            stop_at: Some(utc("2030-01-01T12:00:00Z")),
            max_runs: None,
        },
        AutomationOptions::new()
            .clock(clock)
            .cron(CronSchedule::parse("*/30 * * * *", "UTC").unwrap()),
    );
    let status = handle.wait().await;
    assert_eq!(status.state, AutomationState::Finished);
    let starts: Vec<SystemTime> = target.calls().iter().map(|c| c.started).collect();
    assert_eq!(
        starts,
        vec![
            utc("2030-01-01T10:30:00Z"),
            utc("2030-01-01T11:00:00Z"),
            utc("2030-01-01T11:30:00Z"),
        ]
    );
}
