//! [`CodexTestEnv`]: a mock model, a codex home, a project directory and the pinned codex, torn
//! down with no process left behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use codex_mock_model::{CodexHome, HomeOptions, MockModel, Scenario, ScratchDir};
use tokio::process::Command;

use crate::leftovers::{kill_tagged, processes_tagged, wait_until_untagged, TAG_ENV};
use crate::{codex_bin, TestSupportError};

/// How long [`CodexTestEnv::assert_no_leftover_processes`] waits for processes to go away.
pub const LEFTOVER_WAIT: Duration = Duration::from_secs(2);

/// Everything a test needs to run the real codex against a scripted mock model.
///
/// Every process started through [`CodexTestEnv::app_server_command`] (or with
/// [`CodexTestEnv::env_vars`]) carries a unique `CODEX_RUNTIME_TEST_TAG` marker in its
/// environment, which its descendants inherit. On drop, every process still carrying the
/// marker is stopped (SIGTERM, then SIGKILL after a short grace, to its process group), even
/// when the test panicked; then the mock stops and the directories are removed.
///
/// ```no_run
/// use codex_mock_model::{Reply, Scenario};
/// use codex_test_support::CodexTestEnv;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), codex_test_support::TestSupportError> {
/// let env = CodexTestEnv::start(Scenario::new([Reply::text("hello")])).await?;
/// let mut child = env.app_server_command().spawn().expect("spawn codex");
/// // ... speak JSON-RPC over child.stdin / child.stdout ...
/// # drop(child);
/// env.assert_no_leftover_processes().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CodexTestEnv {
    /// The mock model codex talks to.
    pub mock: MockModel,
    /// The `CODEX_HOME` whose `config.toml` points at [`CodexTestEnv::mock`].
    pub home: CodexHome,
    /// The pinned codex binary.
    pub bin: PathBuf,
    /// A fresh project directory under the workspace `target/` (the command's cwd).
    pub workdir: PathBuf,
    workdir_guard: ScratchDir,
    tag: String,
}

impl CodexTestEnv {
    /// Starts a mock serving `scenario` and a codex home with the default [`HomeOptions`]
    /// (approval `never`, sandbox `read-only`).
    pub async fn start(scenario: Scenario) -> Result<Self, TestSupportError> {
        Self::start_with(scenario, HomeOptions::default()).await
    }

    /// Like [`CodexTestEnv::start`] with explicit home options.
    pub async fn start_with(
        scenario: Scenario,
        options: HomeOptions,
    ) -> Result<Self, TestSupportError> {
        let bin = codex_bin()?;
        let mock = MockModel::start(scenario).await?;
        let home = CodexHome::create(&mock.url(), options)?;
        let workdir_guard = ScratchDir::create("codex-workdirs", "project")?;
        Ok(Self {
            mock,
            home,
            bin,
            workdir: workdir_guard.path().to_path_buf(),
            workdir_guard,
            tag: new_tag(),
        })
    }

    /// The unique marker value of this environment.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The project directory (same as [`CodexTestEnv::workdir`]).
    pub fn workdir(&self) -> &Path {
        self.workdir_guard.path()
    }

    /// The environment codex needs: `CODEX_HOME`, `OPENAI_API_KEY=test` and the
    /// `CODEX_RUNTIME_TEST_TAG` marker.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            (
                "CODEX_HOME".to_owned(),
                self.home.path().display().to_string(),
            ),
            ("OPENAI_API_KEY".to_owned(), "test".to_owned()),
            (TAG_ENV.to_owned(), self.tag.clone()),
        ]
    }

    /// `codex` with [`CodexTestEnv::env_vars`] applied, cwd [`CodexTestEnv::workdir`], its own
    /// process group, killed on drop, stdin/stdout piped and stderr discarded (override as needed).
    pub fn codex_command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .envs(self.env_vars())
            .current_dir(&self.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// `codex app-server` set up like [`CodexTestEnv::codex_command`].
    pub fn app_server_command(&self) -> Command {
        let mut command = self.codex_command();
        command.arg("app-server");
        command
    }

    /// Pids of live processes carrying this environment's marker.
    pub fn leftover_processes(&self) -> Vec<u32> {
        processes_tagged(&self.tag)
    }

    /// Waits up to `timeout` for every tagged process to exit.
    pub async fn wait_for_no_leftover_processes(
        &self,
        timeout: Duration,
    ) -> Result<(), TestSupportError> {
        wait_until_untagged(&self.tag, timeout).await
    }

    /// Panics (listing pids and command lines) when tagged processes are still alive after
    /// [`LEFTOVER_WAIT`].
    pub async fn assert_no_leftover_processes(&self) {
        if let Err(err) = self.wait_for_no_leftover_processes(LEFTOVER_WAIT).await {
            panic!("{err}");
        }
    }

    /// Stops every tagged process (and its process group) now, see [`kill_tagged`]; returns the
    /// pids found.
    pub fn kill_leftover_processes(&self) -> Vec<u32> {
        kill_tagged(&self.tag)
    }
}

impl Drop for CodexTestEnv {
    fn drop(&mut self) {
        let killed = kill_tagged(&self.tag);
        if !killed.is_empty() {
            tracing::debug!(
                "codex test env {}: killed leftover processes {killed:?}",
                self.tag
            );
        }
    }
}

fn new_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "crt-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
