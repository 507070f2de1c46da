//! Jobs: imports and deletions that run in the background with a pollable status, can be
//! cancelled, run now, and continue after a restart (their state lives in the store).

use super::error::{require_id, PersistResult, PersistenceError};
use super::model::{now_millis, Millis, Scope};
use super::store::ConversationStore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

/// Schedules and runs jobs on a store. Cheap to clone.
///
/// A job runs when [`Jobs::run_now`] or [`Jobs::run_due`] is called, or in the background
/// after [`Jobs::spawn_worker`]. Imports need a [`crate::runtime::Client`] to read threads
/// ([`Jobs::with_client`]).
#[derive(Clone)]
pub struct Jobs {
    pub(crate) store: Arc<dyn ConversationStore>,
    pub(crate) client: Option<crate::runtime::Client>,
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
        }
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

    /// The job as stored now.
    pub async fn status(&self, job_id: &str) -> PersistResult<JobRecord> {
        self.store
            .job(job_id)
            .await?
            .ok_or_else(|| PersistenceError::JobNotFound {
                job_id: job_id.to_string(),
            })
    }

    /// Cancels a job that has not finished (a running import stops after its current turn).
    pub async fn cancel(&self, job_id: &str) -> PersistResult<JobRecord> {
        self.store
            .cancel_job(job_id)
            .await?
            .ok_or_else(|| PersistenceError::JobNotFound {
                job_id: job_id.to_string(),
            })
    }

    /// Runs the job now, whatever its `run_at`, and returns it as it ended. A finished job is
    /// returned as is.
    ///
    /// # Cancel safety
    /// Dropping the future stops the job between steps; its state stays `running` or
    /// `verifying` and the next [`Jobs::run_due`] (in this process or after a restart)
    /// continues it.
    pub async fn run_now(&self, job_id: &str) -> PersistResult<JobRecord> {
        let job = self.status(job_id).await?;
        if job.state.is_terminal() {
            return Ok(job);
        }
        self.run(job).await
    }

    /// Runs every due job (queued ones past `run_at`, and running ones left by a stopped
    /// process); returns them as they ended.
    pub async fn run_due(&self) -> PersistResult<Vec<JobRecord>> {
        let jobs = self.store.runnable_jobs(now_millis(), 100).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(self.run(job).await?);
        }
        Ok(out)
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

    /// Runs one job to its end; failures become the job's `failed` state.
    async fn run(&self, mut job: JobRecord) -> PersistResult<JobRecord> {
        if job.state == JobState::Queued {
            job.state = JobState::Running;
            if !self.store.update_job(&job).await? {
                return self.status(&job.job_id).await;
            }
        }
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
            Err(PersistenceError::Cancelled { .. }) => return self.status(&job.job_id).await,
            Err(e) => {
                tracing::warn!(job = %job.job_id, error = %e, "job failed");
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
            }
        }
        self.store.update_job(&job).await?;
        self.status(&job.job_id).await
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
