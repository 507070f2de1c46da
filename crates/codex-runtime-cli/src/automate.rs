//! `codex-runtime automate`: one automation on one session, with a countdown, run reports and
//! a graceful Ctrl-C.

use crate::cli::{AutomateArgs, CatchUpArg};
use crate::countdown::{format_at, Countdown};
use crate::duration::format_short;
use crate::error::{existing_dir, CliError};
use crate::offline::{api_key_present, OfflineModel};
use anyhow::{Context, Result};
use codex_mock_model::{Reply, Scenario};
use codex_runtime::automation::{
    spawn_with, AutomationOptions, AutomationSpec, AutomationState, AutomationStatus, Backoff,
    CatchUp, CronSchedule, ErrorPolicy, JsonFileStore, RunReport, StopMode,
};
use codex_runtime::runtime::{SessionConfig, TurnOutput};
use codex_runtime::{Client, ClientConfig};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::broadcast::error::RecvError;

/// Failures in a row that end an automation run with `--continue-on-error`.
const MAX_CONSECUTIVE_FAILURES: u32 = 5;

/// The schedule and options `args` describe, checked before codex is started.
fn plan(args: &AutomateArgs) -> Result<(AutomationSpec, AutomationOptions, Option<CronSchedule>)> {
    if args.tz.is_some() && args.cron.is_none() {
        return Err(CliError::TzWithoutCron.into());
    }
    let cron = match &args.cron {
        Some(expr) => Some(
            CronSchedule::parse(expr, args.tz.as_deref().unwrap_or("UTC"))
                .context("--cron/--tz")?,
        ),
        None => None,
    };
    let stop_at = match (args.stop_at, args.for_) {
        (Some(at), _) => Some(SystemTime::from(at)),
        (None, Some(d)) => Some(
            SystemTime::now()
                .checked_add(d)
                .context("--for is too far in the future")?,
        ),
        (None, None) => None,
    };
    let spec = AutomationSpec {
        prompt: args.prompt.clone(),
        start_at: args.start_at.map(SystemTime::from),
        // With --cron the interval is unused but must be positive.
        every: args.every.unwrap_or(Duration::from_secs(86_400)),
        stop_at,
        max_runs: args.max_runs,
    };
    let mut options = AutomationOptions::new().catch_up(match args.catch_up {
        CatchUpArg::Skip => CatchUp::Skip,
        CatchUpArg::RunOnce => CatchUp::RunOnce,
    });
    if let Some(c) = &cron {
        options = options.cron(c.clone());
    }
    if args.continue_on_error {
        options = options.error_policy(ErrorPolicy::Continue {
            backoff: Backoff::exponential(Duration::from_secs(30), Duration::from_secs(15 * 60)),
            max_consecutive_failures: MAX_CONSECUTIVE_FAILURES,
        });
    }
    if let Some(t) = args.run_timeout {
        options = options.run_timeout(t);
    }
    if let (Some(store), Some(id)) = (&args.store, &args.id) {
        options = options.persist(Arc::new(JsonFileStore::new(store)), id.clone());
    }
    Ok((spec, options, cron))
}

/// Runs the automation until it ends or is stopped; `Err` when it failed.
pub async fn run(args: AutomateArgs) -> Result<()> {
    let cwd = existing_dir(&args.profile.cwd)?;
    let (spec, options, cron) = plan(&args)?;
    let profile = args.profile.to_profile();
    profile.validate()?;

    let (client_config, _model) = if args.offline {
        eprintln!(
            "offline: using the bundled mock model{}",
            if api_key_present() {
                " (--offline)"
            } else {
                ""
            }
        );
        let scenario =
            Scenario::empty().with_fallback(Reply::echo("mock model (offline) answering: "));
        let model = OfflineModel::start(scenario, &cwd).await?;
        (model.client_config(), Some(model))
    } else {
        crate::offline::check_credentials()?;
        (ClientConfig::new(), None)
    };
    let client = Client::connect(client_config)
        .await
        .context("cannot start codex app-server")?;
    let result = drive(&client, &cwd, profile, spec, options, cron).await;
    if let Err(err) = client.shutdown().await {
        tracing::warn!("codex did not shut down cleanly: {err}");
    }
    let status = result?;
    eprintln!(
        "automation {}: {} run(s)",
        state_name(status.state),
        status.runs_done
    );
    if status.state == AutomationState::Failed {
        let reason = status
            .last_error
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no error was recorded".to_string());
        return Err(CliError::AutomationFailed { reason }.into());
    }
    Ok(())
}

async fn drive(
    client: &Client,
    cwd: &std::path::Path,
    profile: codex_runtime::RunProfile,
    spec: AutomationSpec,
    options: AutomationOptions,
    cron: Option<CronSchedule>,
) -> Result<AutomationStatus<TurnOutput>> {
    let session = client
        .start_session(SessionConfig::new(cwd).with_profile(profile))
        .await
        .context("cannot start a session")?;
    let tz = cron.as_ref().map(|c| c.time_zone());
    match &cron {
        Some(c) => eprintln!(
            "automation: cron \"{}\" in {} on thread {}",
            c.expression(),
            c.time_zone(),
            session.thread_id()
        ),
        None => eprintln!(
            "automation: every {} on thread {}",
            format_short(spec.every),
            session.thread_id()
        ),
    }
    if let Some(stop) = spec.stop_at {
        eprintln!("no run starts after {}", format_at(stop, tz));
    }
    let handle = spawn_with(session, spec, options);
    let mut reports = handle.subscribe();
    let mut countdown = Countdown::new(std::io::stderr().is_terminal(), tz);
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch Ctrl-C")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    // Polled often so that a short wait is seen; the display only changes once per second.
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop_requests = 0u32;
    let waiter = handle.wait();
    tokio::pin!(waiter);
    let status = loop {
        tokio::select! {
            status = &mut waiter => break status,
            report = reports.recv() => match report {
                Ok(report) => {
                    countdown.clear();
                    println!("{}", report_line(&report));
                }
                Err(RecvError::Lagged(n)) => {
                    countdown.clear();
                    eprintln!("({n} run reports were skipped)");
                }
                Err(RecvError::Closed) => break handle.wait().await,
            },
            _ = ticker.tick() => countdown.show(&handle.status()),
            _ = stop_signal(&mut sigint, &mut sigterm) => {
                countdown.clear();
                stop_requests += 1;
                if stop_requests == 1 {
                    eprintln!("stopping after the current run (Ctrl-C again to interrupt it)");
                    handle.request_stop(StopMode::Finish);
                } else if stop_requests == 2 {
                    eprintln!("interrupting the current run (Ctrl-C again to abort)");
                    handle.request_stop(StopMode::Interrupt);
                } else {
                    anyhow::bail!("aborted by a third Ctrl-C while the run was being interrupted");
                }
            }
        }
    };
    countdown.clear();
    // Reports of the last runs may still be buffered.
    loop {
        match reports.try_recv() {
            Ok(report) => println!("{}", report_line(&report)),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                eprintln!("({n} run reports were skipped)")
            }
            Err(_) => break,
        }
    }
    Ok(status)
}

async fn stop_signal(
    sigint: &mut tokio::signal::unix::Signal,
    sigterm: &mut tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
}

/// One printed line per run: number, duration, status and the answer's first line.
pub fn report_line(report: &RunReport<TurnOutput>) -> String {
    let took = report
        .ended_at
        .duration_since(report.started_at)
        .unwrap_or(Duration::ZERO);
    match &report.result {
        Ok(out) => {
            let first = out.assistant_text.lines().next().unwrap_or("").trim();
            format!(
                "run #{} {} in {}: {}",
                report.run_number,
                out.status.as_str(),
                format_short(took),
                if first.is_empty() {
                    "(no answer)"
                } else {
                    first
                }
            )
        }
        Err(err) => format!(
            "run #{} failed after {}: {err}",
            report.run_number,
            format_short(took)
        ),
    }
}

fn state_name(state: AutomationState) -> &'static str {
    match state {
        AutomationState::Waiting => "waiting",
        AutomationState::Running => "running",
        AutomationState::Stopped => "stopped",
        AutomationState::Finished => "finished",
        AutomationState::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn automate(args: &[&str]) -> AutomateArgs {
        let cli = Cli::try_parse_from(
            ["codex-runtime", "automate", "--prompt", "p"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        match cli.command {
            Command::Automate(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_plan_carries_the_schedule_and_stop_conditions() {
        let (spec, _, cron) = plan(&automate(&[
            "--every",
            "30m",
            "--max-runs",
            "3",
            "--for",
            "8h",
        ]))
        .unwrap();
        assert_eq!(spec.every, Duration::from_secs(1800));
        assert_eq!(spec.max_runs, Some(3));
        let stop = spec.stop_at.unwrap();
        let left = stop.duration_since(SystemTime::now()).unwrap();
        assert!(left <= Duration::from_secs(8 * 3600) && left > Duration::from_secs(7 * 3600));
        assert!(cron.is_none());

        let (spec, _, cron) = plan(&automate(&[
            "--cron",
            "0 9 * * MON-FRI",
            "--tz",
            "Europe/Berlin",
            "--start-at",
            "2026-11-23T00:00:00Z",
        ]))
        .unwrap();
        let cron = cron.unwrap();
        assert_eq!(cron.time_zone().name(), "Europe/Berlin");
        assert!(spec.every > Duration::ZERO);
        assert_eq!(
            spec.start_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_392_000))
        );
    }

    #[test]
    fn a_bad_cron_or_time_zone_is_refused_before_codex_starts() {
        let err = plan(&automate(&["--cron", "not a cron"])).unwrap_err();
        assert!(
            format!("{err:#}").contains("invalid cron expression"),
            "{err:#}"
        );
        let err = plan(&automate(&["--cron", "0 9 * * *", "--tz", "Mars/Olympus"])).unwrap_err();
        assert!(format!("{err:#}").contains("unknown time zone"), "{err:#}");
        let err = plan(&automate(&["--every", "1m", "--tz", "UTC"])).unwrap_err();
        assert!(err.to_string().contains("--tz applies to --cron"), "{err}");
    }
}
