//! One function per subcommand.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use codex_flow::event::MAX_EVENT_BYTES;
use codex_flow::{
    code_mode_env_from_process, CancellationToken, DispatchOptions, EventDetail, EventFilter,
    EventRecord, FlowCatalog, FlowClient, FlowError, FlowEvent, HttpFlowClient,
    HttpFlowClientConfig, LocalFlowClient, LocalFlowClientConfig, LocalHooks, RunFilter,
    RunStepOptions, RunView, StateMode,
};
use serde_json::{json, Value};

use crate::cli::args::{Cli, Command, Global, StateArg};
use crate::cli::progress::stderr_progress;
use crate::cli::table::{clip, render};

type CliResult = Result<ExitCode, FlowError>;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let g = &cli.global;
    match cli.command {
        Command::List => list(g),
        Command::Validate => validate(g),
        Command::Fire { ref event } => fire(g, event).await,
        Command::Run {
            ref flow,
            ref step,
            ref event,
            ref run_id,
            ref attempt_id,
            replay,
        } => {
            let options = RunStepOptions {
                run_id: run_id.clone(),
                attempt_id: attempt_id.clone(),
                replay,
            };
            run_step(g, flow, step, event, options).await
        }
        Command::Events {
            ref event_type,
            limit,
        } => {
            let client = state_client(g)?;
            let events = client
                .list_events(EventFilter {
                    event_type: event_type.clone(),
                    limit: Some(limit),
                })
                .await?;
            print_events(g, &events);
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs {
            ref event_id,
            ref status,
            limit,
        } => {
            let client = state_client(g)?;
            let runs = client
                .list_runs(RunFilter {
                    event_id: event_id.clone(),
                    status: status.clone(),
                    limit: Some(limit),
                })
                .await?;
            print_runs(g, &runs);
            Ok(ExitCode::SUCCESS)
        }
        Command::ShowRun { ref run_id } => {
            let run = state_client(g)?.get_run(run_id).await?;
            print_run(g, &run);
            Ok(ExitCode::SUCCESS)
        }
        Command::ShowEvent { ref event_id } => {
            let detail = state_client(g)?.get_event(event_id).await?;
            print_event_detail(g, &detail);
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { ref event_id } => {
            let (client, local) = client_and_local(g)?;
            until_signal(local.as_ref(), async {
                let answer = client
                    .replay_event(event_id, DispatchOptions { wait: true })
                    .await?;
                print_dispatch(g, &*client, &answer).await
            })
            .await
        }
        Command::Cancel { ref run_id } => {
            let run = state_client(g)?.cancel_run(run_id).await?;
            print_run(g, &run);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            ref store,
            ref listen,
            ref flows,
            ref token,
            ref api_key,
            ref signing_secret,
            accept_body_signature,
            insecure_no_auth,
            replay_window_secs,
            body_limit,
        } => {
            let auth = codex_flow::serve::ServeAuth {
                token: token.clone().map(Into::into),
                api_key: api_key.clone().map(Into::into),
                signing_secret: signing_secret.clone().map(Into::into),
                accept_body_signature,
                replay_window: std::time::Duration::from_secs(replay_window_secs),
                insecure_no_auth,
            };
            crate::cli::services::serve(g, store, listen, flows.as_deref(), auth, body_limit).await
        }
        Command::Worker {
            ref store,
            concurrency,
            ref flows,
            lease_ttl_ms,
            heartbeat_ms,
            drain_ms,
            max_next_depth,
        } => {
            let config = codex_flow::worker::WorkerConfig {
                concurrency: concurrency.max(1),
                lease_ttl: std::time::Duration::from_millis(lease_ttl_ms.max(100)),
                heartbeat_interval: std::time::Duration::from_millis(heartbeat_ms.max(10)),
                drain_timeout: std::time::Duration::from_millis(drain_ms),
                max_next_depth,
                ..Default::default()
            };
            crate::cli::services::worker(g, store, flows.as_deref(), config).await
        }
        Command::BenchDispatch {
            count,
            ref event_type,
            ref prefix,
        } => bench_dispatch(g, count, event_type, prefix).await,
    }
}

pub(crate) fn local_config(g: &Global) -> LocalFlowClientConfig {
    let mut config = LocalFlowClientConfig::new(g.cwd.clone());
    config.state = match g.state {
        StateArg::Memory => StateMode::Memory,
        StateArg::Durable => StateMode::Durable,
    };
    config.dispatch_next = g.dispatch_next;
    config.env = code_mode_env_from_process();
    config.launched_by = Some("codex-flow".into());
    config
}

/// The Code Mode executor of the CLI: Codex turns through `codex_runtime`, with codex found via
/// `CODEX_BIN` or `PATH` (started only when a Code Mode step runs).
pub(crate) fn codex_executor() -> std::sync::Arc<dyn codex_flow::CodeModeExecutor> {
    std::sync::Arc::new(codex_flow::SessionCodeModeExecutor::new(
        codex_runtime::runtime::ClientConfig::new(),
    ))
}

fn local_client(g: &Global) -> Result<LocalFlowClient, FlowError> {
    let progress = (!g.quiet).then(stderr_progress);
    LocalFlowClient::open_with(
        local_config(g),
        LocalHooks {
            code_mode: Some(codex_executor()),
            progress,
        },
    )
}

/// A client for commands that only read or change recorded state: flows are not loaded, so a
/// broken flow does not prevent inspecting runs.
fn state_client(g: &Global) -> Result<Box<dyn FlowClient>, FlowError> {
    if g.backend_url.is_some() {
        return client(g);
    }
    Ok(Box::new(LocalFlowClient::with_catalog(
        local_config(g),
        FlowCatalog::default(),
        LocalHooks::default(),
    )?))
}

/// The configured client, and the local client behind it when there is one (to cancel its runs
/// on a signal).
fn client_and_local(
    g: &Global,
) -> Result<(Box<dyn FlowClient>, Option<LocalFlowClient>), FlowError> {
    if g.backend_url.is_some() {
        return Ok((client(g)?, None));
    }
    let local = local_client(g)?;
    Ok((Box::new(local.clone()), Some(local)))
}

/// Runs `work` until it ends or SIGINT / SIGTERM arrives. On a signal, the runs of `local` are
/// canceled (each step's whole process group is killed, grandchildren included) and recorded
/// `canceled` before the command exits with 130 (SIGINT) or 143 (SIGTERM). Without this handler
/// the default action would end this process at once and leave the steps' children running.
async fn until_signal(
    local: Option<&LocalFlowClient>,
    work: impl std::future::Future<Output = CliResult>,
) -> CliResult {
    use tokio::signal::unix::{signal, SignalKind};
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|source| FlowError::Io {
            context: format!("cannot install the {name} handler"),
            source,
        })
    };
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    let (code, name) = tokio::select! {
        result = work => return result,
        _ = interrupt.recv() => (130, "SIGINT"),
        _ = terminate.recv() => (143, "SIGTERM"),
    };
    tracing::warn!(signal = name, "stopping: canceling running steps");
    if let Some(local) = local {
        local.cancel_all();
        if tokio::time::timeout(std::time::Duration::from_secs(15), local.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!("runs still recording after 15 s; exiting");
        }
    }
    eprintln!("interrupted by {name}: running steps were stopped");
    Ok(ExitCode::from(code))
}

fn client(g: &Global) -> Result<Box<dyn FlowClient>, FlowError> {
    match &g.backend_url {
        Some(url) => {
            let mut config = HttpFlowClientConfig::new(url.clone());
            config.token = g.backend_token.clone().map(Into::into);
            config.api_key = g.backend_api_key.clone().map(Into::into);
            config.signing_secret = g.backend_secret.clone().map(Into::into);
            Ok(Box::new(HttpFlowClient::new(config)?))
        }
        None => Ok(Box::new(local_client(g)?)),
    }
}

fn read_event(path: &Path) -> Result<FlowEvent, FlowError> {
    let limit = MAX_EVENT_BYTES;
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(limit + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| FlowError::Io {
        context: format!("cannot read event file {}", path.display()),
        source: e,
    })?;
    FlowEvent::from_json_slice(&bytes)
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

fn list(g: &Global) -> CliResult {
    let catalog = FlowCatalog::load(&local_config(g).resolved_roots())?;
    if g.json {
        let flows: Vec<Value> = catalog
            .flows()
            .iter()
            .map(|f| {
                json!({
                    "name": f.name(),
                    "version": f.manifest.version,
                    "description": f.manifest.description,
                    "root": f.root,
                    "steps": f.steps.iter().map(|s| json!({
                        "name": s.name(),
                        "runner": s.manifest.runner,
                        "trigger": s.manifest.trigger,
                        "timeoutMs": s.manifest.timeout_ms(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let shadowed: Vec<Value> = catalog
            .shadowed()
            .iter()
            .map(|s| json!({"name": s.name, "root": s.root, "winner": s.winner}))
            .collect();
        print_json(&json!({"flows": flows, "shadowed": shadowed}));
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    for flow in catalog.flows() {
        for step in &flow.steps {
            let trigger = step.manifest.trigger.as_ref();
            rows.push(vec![
                flow.name().to_string(),
                flow.manifest.version.to_string(),
                step.name().to_string(),
                serde_json::to_value(step.manifest.runner)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                trigger
                    .map(|t| t.event_type.clone())
                    .unwrap_or_else(|| "-".into()),
                trigger
                    .and_then(|t| t.schema.clone())
                    .unwrap_or_else(|| "-".into()),
                flow.root.display().to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        println!("no flows under {}", g.cwd.display());
    } else {
        print!(
            "{}",
            render(
                &["FLOW", "VERSION", "STEP", "RUNNER", "TRIGGER", "SCHEMA", "ROOT"],
                &rows
            )
        );
    }
    for s in catalog.shadowed() {
        eprintln!(
            "note: flow `{}` in {} is shadowed by {}",
            s.name,
            s.root.display(),
            s.winner.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(g: &Global) -> CliResult {
    let discovery = FlowCatalog::discover(&local_config(g).resolved_roots());
    let flows = discovery.catalog.flows().len();
    if g.json {
        let problems: Vec<Value> = discovery
            .problems
            .iter()
            .map(|(dir, e)| json!({"folder": dir, "error": e.to_string()}))
            .collect();
        print_json(&json!({"flows": flows, "problems": problems}));
    } else {
        for (dir, e) in &discovery.problems {
            eprintln!("invalid: {}: {e}", dir.display());
        }
        println!(
            "{flows} flow(s) valid, {} invalid",
            discovery.problems.len()
        );
    }
    Ok(if discovery.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn fire(g: &Global, event_path: &Path) -> CliResult {
    let event = read_event(event_path)?;
    let (client, local) = client_and_local(g)?;
    if let Some(local) = &local {
        {
            if !g.quiet {
                let (_, mismatches) = local.catalog().explain_match(&event);
                for m in mismatches {
                    let why: Vec<String> = m.violations.iter().map(|v| v.to_string()).collect();
                    eprintln!(
                        "note: {}/{} skipped: payload does not match its schema: {}",
                        m.flow,
                        m.step,
                        why.join("; ")
                    );
                }
            }
        }
    }
    until_signal(local.as_ref(), async {
        let answer = client
            .dispatch_event(event.to_value(), DispatchOptions { wait: true })
            .await?;
        print_dispatch(g, &*client, &answer).await
    })
    .await
}

async fn print_dispatch(
    g: &Global,
    client: &dyn FlowClient,
    answer: &codex_flow::DispatchResponse,
) -> CliResult {
    let mut runs = Vec::new();
    for id in &answer.run_ids {
        match client.get_run(id).await {
            Ok(run) => runs.push(run),
            Err(e) => eprintln!("warning: cannot read run {id}: {e}"),
        }
    }
    if g.json {
        print_json(&json!({"dispatch": answer, "runs": runs}));
    } else {
        let status = serde_json::to_value(answer.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "event {}: {status}, {} run(s), {} matched",
            answer.event_id,
            answer.run_ids.len(),
            answer.matched
        );
        if !runs.is_empty() {
            print_runs(g, &runs);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_step(
    g: &Global,
    flow: &str,
    step: &str,
    event_path: &Path,
    options: RunStepOptions,
) -> CliResult {
    let event = read_event(event_path)?;
    let mut config = local_config(g);
    config.state = StateMode::Memory;
    let progress = (!g.quiet).then(stderr_progress);
    let client = LocalFlowClient::open_with(
        config,
        LocalHooks {
            code_mode: Some(codex_executor()),
            progress,
        },
    )?;
    let cancel = CancellationToken::new();
    let step_run = client.run_step(flow, step, event, options, &cancel);
    // On a signal the step future is dropped: its process group is killed as a whole.
    let mut outcome = None;
    let interrupted = until_signal(None, async {
        outcome = Some(step_run.await?);
        Ok(ExitCode::SUCCESS)
    })
    .await?;
    let Some(outcome) = outcome else {
        return Ok(interrupted);
    };
    let error = outcome.error.as_ref().map(ToString::to_string);
    if g.json {
        print_json(&json!({
            "processStatus": outcome.process_status,
            "result": outcome.result,
            "error": error,
            "exitCode": outcome.exit_code,
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
        }));
    } else if let Some(result) = &outcome.result {
        println!("FLOW_RESULT {}", result.to_value());
    }
    if let Some(error) = error {
        eprintln!("error: {error}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_rows(runs: &[RunView]) -> Vec<Vec<String>> {
    runs.iter()
        .map(|r| {
            vec![
                r.id.clone(),
                format!("{}/{}", r.flow, r.step),
                r.process_status
                    .map(|s| s.as_str())
                    .unwrap_or("-")
                    .to_string(),
                r.effective_status.as_str().to_string(),
                if r.needs_attention { "yes" } else { "" }.to_string(),
                clip(&r.event_id, 40),
                r.created_at.clone().unwrap_or_default(),
                clip(
                    r.error
                        .as_deref()
                        .or(r.result.as_ref().and_then(|x| x.message.as_deref()))
                        .unwrap_or(""),
                    60,
                ),
            ]
        })
        .collect()
}

fn print_runs(g: &Global, runs: &[RunView]) {
    if g.json {
        print_json(&json!({ "runs": runs }));
        return;
    }
    if runs.is_empty() {
        println!("no runs");
        return;
    }
    print!(
        "{}",
        render(
            &[
                "RUN",
                "FLOW/STEP",
                "PROCESS",
                "EFFECTIVE",
                "ATTENTION",
                "EVENT",
                "CREATED",
                "MESSAGE"
            ],
            &run_rows(runs)
        )
    );
}

fn print_events(g: &Global, events: &[EventRecord]) {
    if g.json {
        print_json(&json!({ "events": events }));
        return;
    }
    if events.is_empty() {
        println!("no events");
        return;
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                clip(&e.event.id, 50),
                e.event.event_type.clone(),
                e.run_ids.len().to_string(),
                e.replays.to_string(),
                e.event.received_at.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["EVENT", "TYPE", "RUNS", "REPLAYS", "RECEIVED"], &rows)
    );
}

fn print_run(g: &Global, run: &RunView) {
    if g.json {
        print_json(&json!({ "run": run }));
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "run        {}", run.id);
    let _ = writeln!(out, "flow/step  {}/{}", run.flow, run.step);
    let _ = writeln!(out, "event      {}", run.event_id);
    let _ = writeln!(
        out,
        "status     process={} result={} effective={}{}",
        run.process_status.map(|s| s.as_str()).unwrap_or("-"),
        run.result_status.map(|s| s.as_str()).unwrap_or("-"),
        run.effective_status.as_str(),
        if run.needs_attention {
            " (needs attention)"
        } else {
            ""
        }
    );
    if run.replay {
        let _ = writeln!(out, "replay     yes");
    }
    for (label, value) in [
        ("created", &run.created_at),
        ("started", &run.started_at),
        ("finished", &run.finished_at),
    ] {
        if let Some(v) = value {
            let _ = writeln!(out, "{label:<10} {v}");
        }
    }
    if let Some(e) = &run.error {
        let _ = writeln!(out, "error      {e}");
    }
    if let Some(r) = &run.result {
        let _ = writeln!(out, "result     {}", r.to_value());
    }
    for a in &run.attempts {
        let _ = writeln!(
            out,
            "attempt    #{} {} {} {}",
            a.attempt_number,
            a.id,
            a.status.map(|s| s.as_str()).unwrap_or("-"),
            a.worker_id.as_deref().unwrap_or("")
        );
    }
    for note in &run.notes {
        let _ = writeln!(out, "note       {note}");
    }
    if let Some(o) = &run.latest_output {
        for (name, c) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            if !c.text.is_empty() {
                let _ = writeln!(
                    out,
                    "--- {name}{} ---\n{}",
                    if c.truncated {
                        " (truncated, tail kept)"
                    } else {
                        ""
                    },
                    c.text.trim_end()
                );
            }
        }
    }
}

fn print_event_detail(g: &Global, detail: &EventDetail) {
    if g.json {
        print_json(detail);
        return;
    }
    println!("event      {}", detail.event.event.id);
    println!("type       {}", detail.event.event.event_type);
    println!("received   {}", detail.event.event.received_at);
    println!(
        "payload    {}",
        clip(&detail.event.event.payload.to_string(), 200)
    );
    print_runs(g, &detail.runs);
}

async fn bench_dispatch(g: &Global, count: usize, event_type: &str, prefix: &str) -> CliResult {
    let client = local_client(g)?;
    let mut out = std::io::stdout();
    for i in 0..count {
        let id = format!("{prefix}-{i}");
        let event = json!({"id": id, "type": event_type, "payload": {"n": i}});
        client
            .dispatch_event(event, DispatchOptions { wait: true })
            .await?;
        writeln!(out, "ACK {id}")
            .and_then(|_| out.flush())
            .map_err(|e| FlowError::Io {
                context: "writing to stdout".into(),
                source: e,
            })?;
    }
    Ok(ExitCode::SUCCESS)
}
