//! The command runner: one child process per step, in its own process group, context JSON on
//! stdin, bounded output capture, killed as a whole group at the timeout or on cancel, and by
//! its [`StepGuard`] when this process dies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codex_hooks::{ProcessGroup, Signal};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::catalog::LoadedStep;
use crate::error::FlowError;
use crate::manifest::RunnerKind;
use crate::output_capture::{capture, CapturedOutput, OutputTail};
use crate::progress::{OutputStream, ProgressEvent, ProgressSink};
use crate::step_guard::StepGuard;

/// How a command step's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandEnd {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Killed by us at the timeout.
    TimedOut,
    /// Killed by us on cancel.
    Canceled,
}

/// What a command step produced.
#[derive(Debug)]
pub(crate) struct CommandOutcome {
    pub(crate) end: CommandEnd,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
}

/// Everything needed to launch one command step.
pub(crate) struct CommandLaunch<'a> {
    pub(crate) flow: &'a str,
    pub(crate) step: &'a LoadedStep,
    pub(crate) run_id: Option<&'a str>,
    pub(crate) stdin: Vec<u8>,
    /// Variables of this process passed on (the allow-list); everything else is cleared.
    pub(crate) env_inherit: Vec<(String, String)>,
    pub(crate) env_set: Vec<(String, String)>,
    pub(crate) env_remove: Vec<String>,
    pub(crate) path_var: Option<String>,
    pub(crate) output_limit: usize,
    pub(crate) kill_grace: Duration,
    pub(crate) drain_timeout: Duration,
}

/// Picks program and arguments: explicit `command` argv (script appended), the runner's fixed
/// interpreter (`bun`, `node`), or an interpreter chosen by the script's extension.
pub(crate) fn program_for(
    step: &LoadedStep,
    path_var: Option<&str>,
) -> Result<(String, Vec<String>), String> {
    let script = step.script_path.display().to_string();
    if let Some(argv) = &step.manifest.command {
        let mut args = argv[1..].to_vec();
        args.push(script);
        return Ok((argv[0].clone(), args));
    }
    let interpreter = match step.manifest.runner {
        RunnerKind::Bun => Some("bun".to_string()),
        RunnerKind::Node => Some("node".to_string()),
        RunnerKind::CodeMode => return Err("code-mode steps are not commands".into()),
        RunnerKind::Command => {
            let ext = step
                .script_path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            let first_present = |names: &[&str]| -> Result<String, String> {
                names
                    .iter()
                    .find(|n| find_in_path(n, path_var).is_some())
                    .map(|n| n.to_string())
                    .ok_or_else(|| {
                        format!(
                            "no interpreter for `.{ext}` scripts: install {} on PATH",
                            names.join(" or ")
                        )
                    })
            };
            match ext {
                "js" | "mjs" | "cjs" => Some(first_present(&["node", "bun"])?),
                "ts" | "mts" | "cts" => Some(first_present(&["bun", "node"])?),
                "py" => Some("python3".to_string()),
                "sh" => Some("sh".to_string()),
                _ => None,
            }
        }
    };
    Ok(match interpreter {
        Some(program) => (program, vec![script]),
        None => (script, Vec::new()),
    })
}

/// `name` on `path_var` (the step's PATH), else on this process's `PATH`.
fn find_in_path(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    match path_var {
        Some(path) => which::which_in_global(name, Some(path)).ok()?.next(),
        None => which::which_global(name).ok(),
    }
}

/// Runs one command step to its end, timeout or cancel.
pub(crate) async fn run_command(
    launch: CommandLaunch<'_>,
    cancel: &CancellationToken,
    progress: &ProgressSink,
) -> Result<CommandOutcome, FlowError> {
    let step = launch.step;
    let (program, args) =
        program_for(step, launch.path_var.as_deref()).map_err(|message| FlowError::Spawn {
            flow: launch.flow.to_string(),
            step: step.name().to_string(),
            program: "interpreter".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, message),
        })?;
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .current_dir(&step.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // No PR_SET_PDEATHSIG: it reaches only the leader, and it fires when the spawning *thread*
    // ends (a tokio worker retired after `block_in_place`), not this process. The step guard
    // below covers the whole group when this process dies.
    // Steps never inherit this process's environment wholesale: backend tokens and model API
    // keys stay here. Only the allow-list, the configured env and the CODEX_FLOW_* variables go.
    command.env_clear();
    command.envs(launch.env_inherit.iter().map(|(k, v)| (k, v)));
    for name in &launch.env_remove {
        command.env_remove(name);
    }
    for (name, value) in &launch.env_set {
        command.env(name, value);
    }
    let mut child = command.spawn().map_err(|source| FlowError::Spawn {
        flow: launch.flow.to_string(),
        step: step.name().to_string(),
        program: program.clone(),
        source,
    })?;
    let pid = child.id();
    let group = ProcessGroup::led_by(pid);
    // Held until the step's group is dead (the end of this function): if this process dies
    // first, the guard kills the group.
    let _guard = match pid.map(StepGuard::watch) {
        Some(Ok(guard)) => Some(guard),
        Some(Err(e)) => {
            group.kill(Signal::SIGKILL);
            let _ = child.wait().await;
            return Err(FlowError::io(
                format!("starting the guard of step {}/{}", launch.flow, step.name()),
                e,
            ));
        }
        None => None,
    };
    tracing::debug!(
        flow = launch.flow,
        step = step.name(),
        pid,
        program,
        "step started"
    );

    if let Some(mut stdin) = child.stdin.take() {
        let bytes = launch.stdin;
        tokio::spawn(async move {
            // A step that does not read its stdin closes the pipe early: not an error.
            let _ = stdin.write_all(&bytes).await;
            let _ = stdin.shutdown().await;
        });
    }
    let out_tail = Arc::new(Mutex::new(OutputTail::new(launch.output_limit)));
    let err_tail = Arc::new(Mutex::new(OutputTail::new(launch.output_limit)));
    let mut readers = Vec::new();
    for (stream, tail) in [
        (OutputStream::Stdout, out_tail.clone()),
        (OutputStream::Stderr, err_tail.clone()),
    ] {
        let progress = progress.clone();
        let flow = launch.flow.to_string();
        let step_name = step.name().to_string();
        let run_id = launch.run_id.map(str::to_string);
        let on_line = move |line: &str| {
            progress(&ProgressEvent::Output {
                run_id: run_id.clone(),
                flow: flow.clone(),
                step: step_name.clone(),
                stream,
                line: line.to_string(),
            })
        };
        let handle = match stream {
            OutputStream::Stdout => child
                .stdout
                .take()
                .map(|r| tokio::spawn(capture(r, tail, on_line))),
            _ => child
                .stderr
                .take()
                .map(|r| tokio::spawn(capture(r, tail, on_line))),
        };
        readers.extend(handle);
    }

    let waited = tokio::select! {
        status = child.wait() => Some(status),
        _ = tokio::time::sleep(step.timeout) => None,
        _ = cancel.cancelled() => None,
    };
    let end = match waited {
        Some(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => CommandEnd::Exited(code),
                (None, Some(sig)) => CommandEnd::Signaled(sig),
                (None, None) => CommandEnd::Signaled(0),
            }
        }
        Some(Err(e)) => {
            group.kill(Signal::SIGKILL);
            return Err(FlowError::io(
                format!("waiting for step {}/{}", launch.flow, step.name()),
                e,
            ));
        }
        None => {
            let end = if cancel.is_cancelled() {
                CommandEnd::Canceled
            } else {
                CommandEnd::TimedOut
            };
            group.kill(Signal::SIGTERM);
            if tokio::time::timeout(launch.kill_grace, child.wait())
                .await
                .is_err()
            {
                group.kill(Signal::SIGKILL);
                let _ = child.wait().await;
            }
            end
        }
    };
    // The step is over: nothing it started may outlive it.
    group.kill(Signal::SIGKILL);
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout(launch.drain_timeout, reader)
            .await
            .is_err()
        {
            tracing::warn!(
                flow = launch.flow,
                step = step.name(),
                "step output still open after the step ended; stopped reading"
            );
            abort.abort();
        }
    }
    let snapshot = |t: &Arc<Mutex<OutputTail>>| t.lock().map(|t| t.snapshot()).unwrap_or_default();
    Ok(CommandOutcome {
        end,
        stdout: snapshot(&out_tail),
        stderr: snapshot(&err_tail),
    })
}

/// Variables a step inherits from this process by default (plus every `LC_*`).
pub const DEFAULT_ENV_ALLOW_LIST: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR",
];

/// The variables of this process a step inherits: [`DEFAULT_ENV_ALLOW_LIST`], `LC_*` and the
/// names in `extra`.
pub(crate) fn inherited_env(extra: &[String]) -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| {
            DEFAULT_ENV_ALLOW_LIST.contains(&k.as_str())
                || k.starts_with("LC_")
                || extra.iter().any(|e| e == k)
        })
        .collect()
}

/// Builds the env lists for a step: the configured extra env plus the runtime variables.
pub(crate) fn env_lists(
    extra: &BTreeMap<String, String>,
    runtime: Vec<(&'static str, Option<String>)>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut set: Vec<(String, String)> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut remove = Vec::new();
    for (name, value) in runtime {
        match value {
            Some(v) => set.push((name.to_string(), v)),
            None => remove.push(name.to_string()),
        }
    }
    (set, remove)
}
