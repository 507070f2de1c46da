//! Persistence of a schedule across process restarts: [`ScheduleStore`], [`ScheduleRecord`],
//! the atomic [`JsonFileStore`] and the in-process [`MemoryStore`].
//!
//! # What is written when
//!
//! With [`AutomationOptions::persist`](crate::AutomationOptions::persist) the runner keeps one
//! [`ScheduleRecord`] per automation id and saves it at exactly these points:
//!
//! 1. **At start-up, when the store has no record for the id**: `runs_started = runs_finished =
//!    0` and `next_due` = the first due time.
//! 2. **Before run N's turn is sent** ("started run N"): `runs_started = N`,
//!    `last_started_at`, `last_slot` (the due time this run serves) and `next_due` = the due
//!    time that follows this run on the schedule. The turn starts only after this write
//!    succeeded; if it fails the automation stops `Failed` with the store error and the turn is
//!    not sent.
//! 3. **After run N ended** ("finished run N"): `runs_finished = N`, `last_ended_at`,
//!    `last_error` (or `None`), `consecutive_failures`, and `next_due`/`next_is_retry` = the run
//!    that comes next (a retry under the continue-on-error policy, or the next due time, or the
//!    latest missed one when ticks collapsed).
//!
//! Nothing else is written: stopping, finishing and failing leave the last record in place.
//!
//! # What a restart does
//!
//! * `runs_started > runs_finished` (a run was started but the process stopped before it
//!   finished): that run **counts as done and is never re-run** (at-most-once: its turn may
//!   have had effects). The restart writes it as finished with
//!   [`AutomationError::InterruptedByRestart`] as its error, which also shows as `last_error`
//!   in the status; it does not count as a failure for the error policy.
//! * Run numbers, `max_runs` and the count of consecutive failures continue from the stored
//!   record. The stored due times win over `start_at`; an interval schedule keeps the grid of
//!   the stored due times.
//! * An automation that had ended `Failed` under [`ErrorPolicy::Stop`] resumes its schedule:
//!   a restart is a new attempt.
//! * A pending retry (`next_is_retry`) is kept: it runs at its time, or at once under
//!   `RunOnce` if that time passed; `Skip` drops it and waits for the next scheduled due time.
//!
//! [`ErrorPolicy::Stop`]: crate::ErrorPolicy::Stop
//! * If the stored `next_due` is still ahead, the runner waits for it. If it has passed, the
//!   [`CatchUp`](crate::CatchUp) policy decides: `RunOnce` runs once at once for everything
//!   missed, `Skip` waits for the first due time after the restart.
//! * A store file that exists but cannot be parsed stops the automation at once with
//!   [`AutomationError::StoreCorrupt`] naming the file; the file is never overwritten then, so
//!   nothing already stored is lost.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::AutomationError;

/// Where an automation remembers its progress, keyed by automation id.
///
/// Methods are blocking; the runner calls them on tokio's blocking pool.
pub trait ScheduleStore: Send + Sync + 'static {
    /// The record stored for `automation_id`, or `None` if there is none.
    fn load(&self, automation_id: &str) -> Result<Option<ScheduleRecord>, AutomationError>;

    /// Replaces the record of `automation_id`. Must be durable when it returns.
    fn save(&self, automation_id: &str, record: &ScheduleRecord) -> Result<(), AutomationError>;
}

/// The persisted progress of one automation. Times are wall-clock times.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRecord {
    /// The number of the last run whose start was written.
    pub runs_started: u32,
    /// The number of the last run whose end was written.
    pub runs_finished: u32,
    /// When the last run started.
    #[serde(default, with = "crate::time_format::opt_rfc3339")]
    pub last_started_at: Option<SystemTime>,
    /// When the last run ended.
    #[serde(default, with = "crate::time_format::opt_rfc3339")]
    pub last_ended_at: Option<SystemTime>,
    /// The scheduled due time (before jitter) the last scheduled run served.
    #[serde(default, with = "crate::time_format::opt_rfc3339")]
    pub last_slot: Option<SystemTime>,
    /// When the next run is due (before jitter); `None` when the schedule has no more.
    #[serde(default, with = "crate::time_format::opt_rfc3339")]
    pub next_due: Option<SystemTime>,
    /// Whether `next_due` is a retry after a failure rather than a scheduled due time.
    #[serde(default)]
    pub next_is_retry: bool,
    /// Failed runs in a row up to the last finished run.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The last finished run's error message, if it failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The JSON document of a [`JsonFileStore`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreDocument {
    version: u32,
    automations: BTreeMap<String, ScheduleRecord>,
}

const DOCUMENT_VERSION: u32 = 1;

/// A [`ScheduleStore`] in one JSON file holding the records of any number of automations:
/// `{"version": 1, "automations": {"<id>": {...record...}}}`.
///
/// Every save is a read-modify-write of the whole document under an exclusive lock
/// (`flock`, through the `fs4` crate) on the sidecar file `<path>.lock`, so saves from any
/// number of `JsonFileStore` values and processes sharing one file never lose each other's
/// updates. The new document goes to a temporary file in the same directory, which is fsynced,
/// renamed over the file, and then the directory is fsynced: a reader (which takes no lock)
/// sees either the old or the new document, also after a crash. The lock file is created next
/// to the store and left there; the lock is released when the save ends, also when the process
/// dies. [`JsonFileStore::update`] is the same read-modify-write for a change that depends on
/// the stored record.
///
/// A file that exists but is not a valid document is reported as
/// [`AutomationError::StoreCorrupt`] and never overwritten.
///
/// ```no_run
/// use std::sync::Arc;
/// use codex_automation::{JsonFileStore, ScheduleStore};
///
/// let store = Arc::new(JsonFileStore::new("/var/lib/myapp/automations.json"));
/// let record = store.load("nightly-report")?;
/// # Ok::<(), codex_automation::AutomationError>(())
/// ```
#[derive(Debug)]
pub struct JsonFileStore {
    path: PathBuf,
}

/// Distinguishes temporary files of concurrent saves.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl JsonFileStore {
    /// A store in the file at `path` (created on the first save; its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFileStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar file whose lock serialises writers: `<path>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Replaces the record of `automation_id` with `change(stored record)`, atomically with
    /// respect to every other save or update of the same file, from this or another process.
    /// Returns the record written. Blocks while another writer holds the lock.
    ///
    /// ```no_run
    /// use codex_automation::JsonFileStore;
    ///
    /// let store = JsonFileStore::new("/var/lib/myapp/automations.json");
    /// let record = store.update("nightly-report", |stored| {
    ///     let mut record = stored.unwrap_or_default();
    ///     record.consecutive_failures = 0;
    ///     record
    /// })?;
    /// # let _ = record;
    /// # Ok::<(), codex_automation::AutomationError>(())
    /// ```
    pub fn update(
        &self,
        automation_id: &str,
        change: impl FnOnce(Option<ScheduleRecord>) -> ScheduleRecord,
    ) -> Result<ScheduleRecord, AutomationError> {
        let _lock = self.lock_exclusive()?;
        let mut document = self.read_document()?;
        let record = change(document.automations.remove(automation_id));
        document
            .automations
            .insert(automation_id.to_string(), record.clone());
        self.write_document(&document)?;
        Ok(record)
    }

    /// Opens (creating it if needed) and exclusively locks the lock file; the lock is released
    /// when the returned file is closed.
    fn lock_exclusive(&self) -> Result<File, AutomationError> {
        let lock_path = self.lock_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| AutomationError::store_io(&lock_path, "open lock file", e))?;
        // Called through the trait: std's inherent `File::lock` needs a newer Rust than the
        // workspace's minimum.
        fs4::FileExt::lock(&file).map_err(|e| AutomationError::store_io(&lock_path, "lock", e))?;
        Ok(file)
    }

    fn read_document(&self) -> Result<StoreDocument, AutomationError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StoreDocument {
                    version: DOCUMENT_VERSION,
                    automations: BTreeMap::new(),
                })
            }
            Err(e) => return Err(AutomationError::store_io(&self.path, "read", e)),
        };
        let document: StoreDocument =
            serde_json::from_slice(&bytes).map_err(|e| AutomationError::StoreCorrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if document.version != DOCUMENT_VERSION {
            return Err(AutomationError::StoreCorrupt {
                path: self.path.clone(),
                reason: format!(
                    "unsupported document version {} (this build reads version {DOCUMENT_VERSION})",
                    document.version
                ),
            });
        }
        Ok(document)
    }

    fn write_document(&self, document: &StoreDocument) -> Result<(), AutomationError> {
        let text = serde_json::to_vec_pretty(document).map_err(|e| AutomationError::Store {
            message: format!(
                "cannot encode the document for {}: {e}",
                self.path.display()
            ),
        })?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| AutomationError::Store {
                message: format!("{} does not name a file", self.path.display()),
            })?;
        let temp = dir.join(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_synced(&temp, &text).and_then(|()| {
            fs::rename(&temp, &self.path)
                .map_err(|e| AutomationError::store_io(&self.path, "rename temp file over", e))
        });
        if result.is_err() {
            // Best effort: the temp file is ours and useless now.
            let _ = fs::remove_file(&temp);
            return result;
        }
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| AutomationError::store_io(&dir, "fsync directory", e))
    }
}

/// Creates `path` (which must not exist), writes `bytes` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), AutomationError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| AutomationError::store_io(path, "create temp file", e))?;
    file.write_all(bytes)
        .map_err(|e| AutomationError::store_io(path, "write temp file", e))?;
    file.sync_all()
        .map_err(|e| AutomationError::store_io(path, "fsync temp file", e))
}

impl ScheduleStore for JsonFileStore {
    fn load(&self, automation_id: &str) -> Result<Option<ScheduleRecord>, AutomationError> {
        Ok(self.read_document()?.automations.remove(automation_id))
    }

    fn save(&self, automation_id: &str, record: &ScheduleRecord) -> Result<(), AutomationError> {
        self.update(automation_id, |_| record.clone()).map(drop)
    }
}

/// A [`ScheduleStore`] in memory: survives restarting an automation within one process (and
/// serves tests), not a process restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, ScheduleRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ScheduleStore for MemoryStore {
    fn load(&self, automation_id: &str) -> Result<Option<ScheduleRecord>, AutomationError> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records.get(automation_id).cloned())
    }

    fn save(&self, automation_id: &str, record: &ScheduleRecord) -> Result<(), AutomationError> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.insert(automation_id.to_string(), record.clone());
        Ok(())
    }
}
