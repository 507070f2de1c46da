//! Jobs: imports and deletions that run in the background with a pollable status, can be
//! cancelled, run now, and continue after a restart (their state lives in the store).
//!
//! A job runs under a claim: taking it (`queued → running`, or a running job whose lease
//! expired) writes a lease owner, a lease expiry and a new fencing token in one statement
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, under SQLite's write lock), so of several workers
//! on one store exactly one runs a job. The runner renews the lease while it works and stops
//! the job when it cannot renew before the lease ends; every state write is fenced by the
//! token, so a worker whose claim was taken over writes nothing more.

use super::error::{require_id, PersistResult, PersistenceError};
use super::model::{now_millis, Millis, Scope};
use super::store::ConversationStore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobKind {
    /// Import a codex thread (`thread/read` with turns) into a conversation.
    Import {
        /// The codex thread.
        thread_id: String,
        /// The conversation it goes into (created bound to the thread when missing).
        conversation_id: String,
    },
    /// Delete a conversation with everything in it.
    DeleteConversation {
        /// The conversation.
        conversation_id: String,
    },
    /// Delete one turn with its items, requests and events.
    DeleteTurn {
        /// The conversation.
        conversation_id: String,
        /// The turn.
        turn_id: String,
    },
    /// Delete everything of the job's actor.
    PurgeActor,
}

/// Where a job is. Imports go `queued → running → verifying → synced`; deletions
/// `queued → running → done`; any may end `failed` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for its `run_at`.
    Queued,
    /// Running (a restarted process picks it up again).
    Running,
    /// An import checking every expected item.
    Verifying,
    /// An import that verified.
    Synced,
    /// A deletion that finished.
    Done,
    /// Failed; see the job's `error`.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Verifying => "verifying",
            JobState::Synced => "synced",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "verifying" => JobState::Verifying,
            "synced" => JobState::Synced,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
    /// True once the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Synced | JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// How far a job got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobProgress {
    /// Units done (turns imported, rows deleted).
    pub done: i64,
    /// Units expected, when known.
    pub total: Option<i64>,
    /// Items checked by an import's verification.
    pub verified_items: i64,
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// Its id.
    pub job_id: String,
    /// Whose data it touches.
    pub scope: Scope,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// How far it got.
    pub progress: JobProgress,
    /// Why it failed.
    pub error: Option<String>,
    /// Not before this time ([`Millis`]).
    pub run_at: Millis,
    /// Created ([`Millis`]).
    pub created_at: Millis,
    /// Last changed ([`Millis`]).
    pub updated_at: Millis,
    /// The instance holding the job's claim ([`Jobs::owner`]), once claimed.
    pub lease_owner: Option<String>,
    /// When the claim's lease ends unless renewed ([`Millis`]); another worker may take the
    /// job over after it.
    pub lease_expires_at: Option<Millis>,
    /// The fencing token: bumped by every claim; state writes of an older claim are refused.
    pub claim: i64,
}

impl JobRecord {
    /// A queued job due at `run_at`.
    pub fn new(scope: Scope, kind: JobKind, run_at: Millis) -> JobRecord {
        let now = now_millis();
        JobRecord {
            job_id: new_job_id(),
            scope,
            kind,
            state: JobState::Queued,
            progress: JobProgress::default(),
            error: None,
            run_at,
            created_at: now,
            updated_at: now,
            lease_owner: None,
            lease_expires_at: None,
            claim: 0,
        }
    }
}

fn new_job_id() -> String {
    format!(
        "job-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// Default lease of a job's claim ([`Jobs::with_lease`]).
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(30);

/// Shortest lease [`Jobs::with_lease`] accepts.
pub const MIN_JOB_LEASE: Duration = Duration::from_millis(200);

/// Schedules and runs jobs on a store. Cheap to clone.
///
/// A job runs when [`Jobs::run_now`] or [`Jobs::run_due`] is called, or in the background
/// after [`Jobs::spawn_worker`], always under a claim with a lease (see the module doc):
/// several `Jobs` on one store, in one process or many, never run one job at once. Imports
/// need a [`crate::runtime::Client`] to read threads ([`Jobs::with_client`]).
#[derive(Clone)]
pub struct Jobs {
    pub(crate) store: Arc<dyn ConversationStore>,
    pub(crate) client: Option<crate::runtime::Client>,
    owner: Arc<str>,
    lease: Duration,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Jobs {
    /// Jobs on `store` (deletions only until [`Jobs::with_client`]).
    pub fn new(store: Arc<dyn ConversationStore>) -> Jobs {
        Jobs {
            store,
            client: None,
            owner: format!("jobs-{:016x}", rand::random::<u64>()).into(),
            lease: DEFAULT_JOB_LEASE,
        }
    }

    /// Sets how long a claim lasts without renewal (default [`DEFAULT_JOB_LEASE`]). The runner
    /// renews it every third of that; a job whose worker died is taken over once it ran out.
    /// Refused below [`MIN_JOB_LEASE`].
    pub fn with_lease(mut self, lease: Duration) -> PersistResult<Jobs> {
        if lease < MIN_JOB_LEASE {
            return Err(PersistenceError::Invalid {
                what: "lease",
                message: format!(
                    "a job lease of {lease:?} is below the minimum of {MIN_JOB_LEASE:?}"
                ),
            });
        }
        self.lease = lease;
        Ok(self)
    }

    /// Names this instance in the claims it takes (default: `jobs-` and a random id).
    pub fn with_owner(mut self, owner: impl Into<String>) -> PersistResult<Jobs> {
        let owner = owner.into();
        require_id("owner", &owner)?;
        self.owner = owner.into();
        Ok(self)
    }

    /// The instance id written as `lease_owner` by this runner's claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long a claim lasts without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Uses `client` to read threads for imports.
    pub fn with_client(mut self, client: crate::runtime::Client) -> Jobs {
        self.client = Some(client);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ConversationStore> {
        &self.store
    }

    async fn enqueue(
        &self,
        scope: &Scope,
        kind: JobKind,
        run_at: Millis,
    ) -> PersistResult<JobRecord> {
        let job = JobRecord::new(scope.clone(), kind, run_at);
        self.store.insert_job(&job).await?;
        Ok(job)
    }

    /// Queues the import of codex thread `thread_id` into `conversation_id` (created when
    /// missing). Fails closed on a store that is not durable.
    pub async fn import_thread(
        &self,
        scope: &Scope,
        thread_id: &str,
        conversation_id: &str,
    ) -> PersistResult<JobRecord> {
        require_id("thread_id", thread_id)?;
        require_id("conversation_id", conversation_id)?;
        super::require_durable(self.store.as_ref(), "import_thread")?;
        let kind = JobKind::Import {
            thread_id: thread_id.to_string(),
            conversation_id: conversation_id.to_string(),
        };
        self.enqueue(scope, kind, now_millis()).await
    }

    /// Queues the deletion of a conversation, due at `run_at` (now with [`now_millis`]).
    pub async fn delete_conversation(
        &self,
        scope: &Scope,
        conversation_id: &str,
        run_at: Millis,
    ) -> PersistResult<JobRecord> {
        require_id("conversation_id", conversation_id)?;
        let kind = JobKind::DeleteConversation {
            conversation_id: conversation_id.to_string(),
        };
        self.enqueue(scope, kind, run_at).await
    }

    /// Queues the deletion of one turn.
    pub async fn delete_turn(
        &self,
        scope: &Scope,
        conversation_id: &str,
        turn_id: &str,
        run_at: Millis,
    ) -> PersistResult<JobRecord> {
        require_id("conversation_id", conversation_id)?;
        require_id("turn_id", turn_id)?;
        let kind = JobKind::DeleteTurn {
            conversation_id: conversation_id.to_string(),
            turn_id: turn_id.to_string(),
        };
        self.enqueue(scope, kind, run_at).await
    }

    /// Queues the deletion of everything of `scope`'s actor.
    pub async fn purge_actor(&self, scope: &Scope, run_at: Millis) -> PersistResult<JobRecord> {
        self.enqueue(scope, JobKind::PurgeActor, run_at).await
    }

    /// The job as stored now. A job of another scope (tenant or actor) is
    /// [`PersistenceError::JobNotFound`].
    pub async fn status(&self, scope: &Scope, job_id: &str) -> PersistResult<JobRecord> {
        self.store
            .job(scope, job_id)
            .await?
            .ok_or_else(|| PersistenceError::JobNotFound {
                job_id: job_id.to_string(),
            })
    }

    /// Cancels a job of `scope` that has not finished (a running import stops after its
    /// current turn). A job of another scope is [`PersistenceError::JobNotFound`].
    pub async fn cancel(&self, scope: &Scope, job_id: &str) -> PersistResult<JobRecord> {
        self.store
            .cancel_job(scope, job_id)
            .await?
            .ok_or_else(|| PersistenceError::JobNotFound {
                job_id: job_id.to_string(),
            })
    }

    /// Claims the job of `scope` and runs it now, whatever its `run_at`, and returns it as it
    /// ended. A finished job, or one another worker holds a live claim on, is returned as
    /// stored. A job of another scope is [`PersistenceError::JobNotFound`].
    ///
    /// # Cancel safety
    /// Dropping the future stops the job between steps; its state stays `running` or
    /// `verifying` with this runner's claim, and once that lease ran out the next
    /// [`Jobs::run_due`] (in this process, another, or after a restart) continues it.
    pub async fn run_now(&self, scope: &Scope, job_id: &str) -> PersistResult<JobRecord> {
        let job = self.status(scope, job_id).await?;
        if job.state.is_terminal() {
            return Ok(job);
        }
        let claimed = self
            .store
            .claim_job(
                scope,
                job_id,
                &self.owner,
                now_millis(),
                self.lease_millis(),
            )
            .await?;
        match claimed {
            Some(job) => self.run_claimed(job).await,
            None => self.status(scope, job_id).await,
        }
    }

    /// Claims and runs, one after the other, every due job (queued ones past `run_at`, and
    /// running ones whose claim's lease ran out, left by a stopped worker), at most 100;
    /// returns them as they ended.
    pub async fn run_due(&self) -> PersistResult<Vec<JobRecord>> {
        let mut out = Vec::new();
        while out.len() < 100 {
            let claimed = self
                .store
                .claim_next_job(&self.owner, now_millis(), self.lease_millis())
                .await?;
            let Some(job) = claimed else { break };
            out.push(self.run_claimed(job).await?);
        }
        Ok(out)
    }

    fn lease_millis(&self) -> Millis {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Runs a claimed job while renewing its lease; stops it when the lease is lost.
    async fn run_claimed(&self, job: JobRecord) -> PersistResult<JobRecord> {
        let scope = job.scope.clone();
        let job_id = job.job_id.clone();
        let heartbeat = super::job_lease::hold(
            self.store.as_ref(),
            &job_id,
            job.claim,
            &self.owner,
            self.lease,
        );
        tokio::select! {
            ran = self.run(job) => ran,
            lost = heartbeat => {
                tracing::warn!(job = %job_id, reason = %lost, "job stopped: its claim is lost");
                self.status(&scope, &job_id).await
            }
        }
    }

    /// Runs due jobs every `interval` in a background task, until the returned handle is
    /// dropped.
    pub fn spawn_worker(&self, interval: std::time::Duration) -> WorkerHandle {
        let jobs = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                if let Err(e) = jobs.run_due().await {
                    tracing::warn!(error = %e, "running due jobs failed");
                }
            }
        });
        WorkerHandle { task }
    }

    /// Runs one claimed job to its end; failures become the job's `failed` state.
    async fn run(&self, mut job: JobRecord) -> PersistResult<JobRecord> {
        let result = match job.kind.clone() {
            JobKind::Import {
                thread_id,
                conversation_id,
            } => super::import::run(self, &mut job, &thread_id, &conversation_id).await,
            JobKind::DeleteConversation { conversation_id } => self
                .store
                .delete_conversation(&job.scope, &conversation_id)
                .await
                .map(|n| finish_delete(&mut job, n)),
            JobKind::DeleteTurn {
                conversation_id,
                turn_id,
            } => self
                .store
                .delete_turn(&job.scope, &conversation_id, &turn_id)
                .await
                .map(|n| finish_delete(&mut job, n)),
            JobKind::PurgeActor => self
                .store
                .purge_actor(&job.scope)
                .await
                .map(|n| finish_delete(&mut job, n)),
        };
        match result {
            Ok(()) => {}
            Err(PersistenceError::Cancelled { .. }) => {
                return self.status(&job.scope, &job.job_id).await
            }
            Err(e) => {
                tracing::warn!(job = %job.job_id, error = %e, "job failed");
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
            }
        }
        if !self.store.update_job(&job).await? {
            tracing::warn!(job = %job.job_id, "job result not saved: cancelled or claimed elsewhere");
        }
        self.status(&job.scope, &job.job_id).await
    }
}

fn finish_delete(job: &mut JobRecord, rows: u64) {
    job.progress.done = rows as i64;
    job.state = JobState::Done;
}

/// The background worker of [`Jobs::spawn_worker`]; dropping it stops the worker.
#[derive(Debug)]
pub struct WorkerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
