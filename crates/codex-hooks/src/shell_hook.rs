//! [`ShellCommandHook`]: a hook that runs an external command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, Command};

use crate::bounded_read::{read_bounded, Captured, Keep};
use crate::process_group::{ProcessGroup, Signal};
use crate::{
    FailureMode, HookAction, HookContext, HookFuture, HookIssue, HookIssueKind, HookPatch,
    PostHook, PreHook,
};

/// The default time a [`ShellCommandHook`] may run.
pub const DEFAULT_SHELL_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// The default bound on the stdout kept from a [`ShellCommandHook`].
pub const DEFAULT_MAX_STDOUT: usize = 1024 * 1024;
/// The default bound on the stderr kept (its tail) from a [`ShellCommandHook`].
pub const DEFAULT_MAX_STDERR: usize = 16 * 1024;

/// A hook that runs a command (an argv, not a shell string) and decides by its exit code.
///
/// The command gets:
/// * the [`HookContext`] as camelCase JSON on stdin (then stdin is closed);
/// * the environment variables `CODEX_HOOK_PHASE` (e.g. `preToolUse`) and `CODEX_HOOK_NAME`,
///   plus those added with [`ShellCommandHook::with_env`], on top of the inherited ones;
/// * the context's cwd as working directory (or the one set with
///   [`ShellCommandHook::with_cwd`]).
///
/// Its result:
/// * exit 0 with empty (or blank) stdout → [`HookAction::Noop`];
/// * exit 0 with a JSON object on stdout → [`HookAction::Mutate`] with that
///   [`HookPatch`] (`{"prompt": "...", "model": "...", "attachments": [...], "metadata": {...}}`);
///   anything else on stdout → a [`HookIssueKind::InvalidOutput`] issue;
/// * exit 2 → [`HookAction::Block`]; the reason is the trimmed stderr, else the trimmed stdout,
///   else `blocked by <name>`;
/// * any other exit (or death by a signal) → a [`HookIssueKind::Failed`] issue with the code
///   and the tail of stderr;
/// * still running after the timeout (default 30 s) → the command's whole process group is
///   killed and a [`HookIssueKind::TimedOut`] issue is returned.
///
/// **Failures fail open by default.** A command that cannot start (a missing script), exits
/// with another code than 0 or 2, dies by a signal, prints something that is not a patch or
/// times out is a failure: an issue that is recorded while the turn goes on
/// ([`FailureMode::Open`]). With [`ShellCommandHook::with_failure_mode`]`(`[`FailureMode::Closed`]`)`
/// every such failure blocks in [`Hooks`](crate::Hooks) like exit 2 would (the issue is still
/// recorded), so a broken policy script stops the turn instead of waving it through.
///
/// The command runs in its own process group. When it exits, or when the hook is cancelled
/// (its future dropped), the group is killed with `SIGKILL`: background processes a hook
/// starts do not outlive it (a process that moves to another session or group with `setsid`
/// escapes this). Stdout is kept up to 1 MiB and stderr's last 16 KiB (see
/// [`ShellCommandHook::with_output_limits`]); the rest is read and discarded.
///
/// Implements both [`PreHook`] and [`PostHook`].
///
/// ```
/// use std::time::Duration;
/// use codex_hooks::{HookAction, HookContext, HookPhase, PreHook, ShellCommandHook};
///
/// # #[tokio::main] async fn main() {
/// let hook = ShellCommandHook::new(
///     "add-model",
///     ["sh", "-c", r#"echo "{\"model\": \"gpt-5-codex\", \"metadata\": {\"phase\": \"$CODEX_HOOK_PHASE\"}}""#],
/// )
/// .with_timeout(Duration::from_secs(10));
/// let ctx = HookContext::new(HookPhase::PreTurn, std::env::temp_dir()).with_prompt("hi");
/// let HookAction::Mutate(patch) = PreHook::call(&hook, &ctx).await.unwrap() else { panic!() };
/// assert_eq!(patch.model.as_deref(), Some("gpt-5-codex"));
/// assert_eq!(patch.metadata["phase"], "preTurn");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ShellCommandHook {
    name: &'static str,
    argv: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    max_stdout: usize,
    max_stderr: usize,
    failure_mode: FailureMode,
}

impl ShellCommandHook {
    /// A hook named `name` running `argv` (program first), e.g.
    /// `ShellCommandHook::new("lint", ["sh", "-c", "./scripts/check.sh"])`.
    ///
    /// An empty `argv` is reported as a [`HookIssueKind::Failed`] issue when the hook runs.
    /// For a name only known at run time, leak it once: `Box::leak(name.into_boxed_str())`.
    pub fn new<I, S>(name: &'static str, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        ShellCommandHook {
            name,
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            env: Vec::new(),
            timeout: DEFAULT_SHELL_HOOK_TIMEOUT,
            max_stdout: DEFAULT_MAX_STDOUT,
            max_stderr: DEFAULT_MAX_STDERR,
            failure_mode: FailureMode::Open,
        }
    }

    /// Whether a failure of the command (missing script, exit code other than 0 and 2, signal,
    /// invalid output, timeout) blocks ([`FailureMode::Closed`]) or is only recorded
    /// ([`FailureMode::Open`], the default).
    pub fn with_failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// The failure mode (default [`FailureMode::Open`]).
    pub fn failure_mode(&self) -> FailureMode {
        self.failure_mode
    }

    /// How long the command may run before its process group is killed (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the command in `cwd` instead of the context's cwd.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds an environment variable for the command.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How many bytes of stdout (its head) and of stderr (its tail) are kept.
    pub fn with_output_limits(mut self, max_stdout: usize, max_stderr: usize) -> Self {
        self.max_stdout = max_stdout;
        self.max_stderr = max_stderr;
        self
    }

    /// The hook's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The command's argv.
    pub fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// Runs the command for `ctx` and interprets its result (what both trait impls do).
    pub async fn run(&self, ctx: &HookContext) -> Result<HookAction, HookIssue> {
        let issue = |kind, message: String| HookIssue::new(self.name, ctx.phase, kind, message);
        let Some((program, args)) = self.argv.split_first() else {
            return Err(issue(
                HookIssueKind::Failed,
                "the command is empty (argv has no program)".to_string(),
            ));
        };
        let input = serde_json::to_vec(ctx).map_err(|err| {
            issue(
                HookIssueKind::Failed,
                format!("could not encode the hook context as JSON: {err}"),
            )
        })?;
        let cwd = self.cwd.as_ref().unwrap_or(&ctx.cwd);

        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .env("CODEX_HOOK_PHASE", ctx.phase.as_str())
            .env("CODEX_HOOK_NAME", self.name)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|err| {
            issue(
                HookIssueKind::Failed,
                format!(
                    "could not start `{}` in {}: {err}",
                    program.to_string_lossy(),
                    cwd.display()
                ),
            )
        })?;
        // Declared after `child`, so dropped before it: the group dies first on cancellation.
        let group = ProcessGroup::led_by(child.id());
        tracing::debug!(hook = self.name, phase = %ctx.phase, pid = ?child.id(), "shell hook started");

        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let wait = async {
                let status = child.wait().await;
                // Background processes the command left would keep the pipes open.
                group.kill(Signal::SIGKILL);
                status
            };
            tokio::join!(
                feed_stdin(stdin, &input),
                read_bounded(stdout, self.max_stdout, Keep::Head),
                read_bounded(stderr, self.max_stderr, Keep::Tail),
                wait,
            )
        };
        // Bound to a variable so `run` (and its borrows of `child`) is gone before the match.
        let finished = tokio::time::timeout(self.timeout, run).await;
        match finished {
            Ok(((), stdout, stderr, status)) => {
                let status = status.map_err(|err| {
                    issue(
                        HookIssueKind::Failed,
                        format!("could not wait for the command: {err}"),
                    )
                })?;
                self.interpret(ctx, status, stdout, stderr)
            }
            Err(_) => {
                group.kill(Signal::SIGKILL);
                if let Err(err) = child.start_kill() {
                    tracing::debug!(%err, "the timed-out hook's process was already gone");
                }
                if let Err(err) = child.wait().await {
                    tracing::debug!(%err, "could not reap the timed-out hook's process");
                }
                Err(issue(
                    HookIssueKind::TimedOut,
                    format!(
                        "the command did not finish within {:?}; its process group was killed",
                        self.timeout
                    ),
                ))
            }
        }
    }

    /// Turns the command's exit status and output into a decision.
    fn interpret(
        &self,
        ctx: &HookContext,
        status: ExitStatus,
        stdout: Captured,
        stderr: Captured,
    ) -> Result<HookAction, HookIssue> {
        let issue = |kind, message: String| HookIssue::new(self.name, ctx.phase, kind, message);
        let stdout_text = String::from_utf8_lossy(&stdout.bytes);
        let stderr_text = String::from_utf8_lossy(&stderr.bytes);
        match status.code() {
            Some(0) => {
                if stdout.dropped > 0 {
                    return Err(issue(
                        HookIssueKind::InvalidOutput,
                        format!(
                            "stdout is longer than the {} bytes kept; a patch must fit",
                            self.max_stdout
                        ),
                    ));
                }
                let trimmed = stdout_text.trim();
                if trimmed.is_empty() {
                    return Ok(HookAction::Noop);
                }
                parse_patch(trimmed)
                    .map(HookAction::Mutate)
                    .map_err(|message| issue(HookIssueKind::InvalidOutput, message))
            }
            Some(2) => {
                let reason = [stderr_text.trim(), stdout_text.trim()]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("blocked by {}", self.name));
                Ok(HookAction::Block(reason.into()))
            }
            Some(code) => Err(issue(
                HookIssueKind::Failed,
                format!(
                    "exited with code {code}{}",
                    stderr_suffix(&stderr_text, &stderr)
                ),
            )),
            None => Err(issue(
                HookIssueKind::Failed,
                format!(
                    "was killed by {}{}",
                    signal_name(status),
                    stderr_suffix(&stderr_text, &stderr)
                ),
            )),
        }
    }
}

/// Writes the context to the command's stdin and closes it. A command that does not read its
/// stdin (and exits) is fine: the broken pipe is ignored.
async fn feed_stdin(stdin: Option<ChildStdin>, input: &[u8]) {
    let Some(mut stdin) = stdin else { return };
    if let Err(err) = stdin.write_all(input).await {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::debug!(%err, "could not write the hook context to the command's stdin");
        }
        return;
    }
    if let Err(err) = stdin.shutdown().await {
        tracing::debug!(%err, "could not close the command's stdin");
    }
}

/// Parses a command's stdout as a [`HookPatch`], with a message saying what is wrong.
fn parse_patch(stdout: &str) -> Result<HookPatch, String> {
    let value: Value = serde_json::from_str(stdout).map_err(|err| {
        format!(
            "stdout is not JSON ({err}); expected a patch object or nothing, got: {}",
            excerpt(stdout)
        )
    })?;
    if !value.is_object() {
        return Err(format!(
            "stdout is JSON but not an object; expected a patch object, got: {}",
            excerpt(stdout)
        ));
    }
    serde_json::from_value(value).map_err(|err| {
        format!(
            "stdout is not a valid patch ({err}); allowed fields: prompt, model, attachments, metadata"
        )
    })
}

/// The first 200 characters of `text`, marked when cut.
fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `: <stderr tail>` for failure messages, or nothing when stderr was empty.
fn stderr_suffix(text: &str, captured: &Captured) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        String::new()
    } else if captured.dropped > 0 {
        format!("; stderr (last {} bytes): …{trimmed}", captured.bytes.len())
    } else {
        format!("; stderr: {trimmed}")
    }
}

#[cfg(unix)]
fn signal_name(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("signal {signal}"),
        None => format!("an unknown cause ({status})"),
    }
}

#[cfg(not(unix))]
fn signal_name(status: ExitStatus) -> String {
    format!("an unknown cause ({status})")
}

impl PreHook for ShellCommandHook {
    fn name(&self) -> &'static str {
        self.name
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(self.run(ctx))
    }
    fn failure_mode(&self) -> FailureMode {
        self.failure_mode
    }
}

impl PostHook for ShellCommandHook {
    fn name(&self) -> &'static str {
        self.name
    }
    fn call<'a>(&'a self, ctx: &'a HookContext) -> HookFuture<'a, Result<HookAction, HookIssue>> {
        Box::pin(self.run(ctx))
    }
    fn failure_mode(&self) -> FailureMode {
        self.failure_mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_patch_explains_what_is_wrong() {
        assert!(parse_patch("not json").unwrap_err().contains("not JSON"));
        assert!(parse_patch("[1]").unwrap_err().contains("not an object"));
        let err = parse_patch(r#"{"model": 5}"#).unwrap_err();
        assert!(err.contains("not a valid patch"), "{err}");
        assert_eq!(
            parse_patch(r#"{"model": "m"}"#).unwrap(),
            HookPatch::new().with_model("m")
        );
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), 201);
    }
}
