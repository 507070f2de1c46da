//! Layer 4: scheduled turns on one session. First the five-field `AutomationSpec` with `spawn`,
//! then `spawn_with` and `AutomationOptions` (retries, run timeout, run reports) and a look at
//! a cron schedule.
//!
//! `cargo run --example automation` (a few seconds offline: runs every second).

mod common;

use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{
    spawn, spawn_with, AutomationOptions, AutomationSpec, Backoff, CronSchedule, ErrorPolicy,
};
use codex_runtime::runtime::{Client, SessionConfig};
use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let example = common::setup(
        "automation",
        Scenario::empty().with_fallback(Reply::echo("done: ")),
    )
    .await?;
    let client = Client::connect(example.client.clone()).await?;

    // 1. The five fields: prompt, start, interval, stop time, run limit.
    let session = client
        .start_session(SessionConfig::new(&example.workdir))
        .await?;
    let handle = spawn(
        session,
        AutomationSpec {
            prompt: "Reduce the backlog by one item.".to_string(),
            start_at: None,
            every: Duration::from_secs(1),
            stop_at: Some(SystemTime::now() + Duration::from_secs(60)),
            max_runs: Some(2),
        },
    );
    let status = handle.wait().await;
    println!(
        "spawn: {:?} after {} runs, last answer: {}",
        status.state,
        status.runs_done,
        status
            .last_outcome
            .map(|o| o.assistant_text)
            .unwrap_or_default()
    );

    // 2. Options: keep going after failures, bound each run, and watch the run reports.
    let session = client
        .start_session(SessionConfig::new(&example.workdir))
        .await?;
    let options = AutomationOptions::new()
        .error_policy(ErrorPolicy::Continue {
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30)),
            max_consecutive_failures: 3,
        })
        .run_timeout(Duration::from_secs(60));
    let handle = spawn_with(
        session,
        AutomationSpec {
            prompt: "Check the nightly build.".to_string(),
            start_at: None,
            every: Duration::from_secs(1),
            stop_at: None,
            max_runs: Some(2),
        },
        options,
    );
    let mut reports = handle.subscribe();
    while let Ok(report) = reports.recv().await {
        match report.result {
            Ok(out) => println!("run {}: {}", report.run_number, out.assistant_text),
            Err(err) => println!("run {} failed: {err}", report.run_number),
        }
    }
    println!("spawn_with: {:?}", handle.wait().await.state);

    // 3. Cron schedules are time-zone aware: `.cron(schedule)` replaces the interval. Here we
    //    only show when it would fire.
    let weekdays = CronSchedule::parse("0 9 * * MON-FRI", "Europe/Berlin")?;
    if let Some(next) = weekdays.next_after(SystemTime::now())? {
        let secs = next.duration_since(SystemTime::now())?.as_secs();
        println!(
            "\"{}\" ({}) fires next in {}h{:02}m",
            weekdays.expression(),
            weekdays.time_zone(),
            secs / 3600,
            (secs / 60) % 60
        );
    }

    client.shutdown().await?;
    Ok(())
}
