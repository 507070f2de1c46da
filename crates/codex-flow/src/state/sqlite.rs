//! Durable state: SQLite in WAL mode, one transaction per operation, safe to share between
//! processes (the event id is claimed in the same transaction that records the event and runs).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{FlowError, Result};
use crate::run_view::RunView;
use crate::state::{effective_limit, Claim, EventFilter, EventRecord, RunFilter, StateStore};

/// The database file inside the state directory.
pub const STATE_DB_FILE: &str = "state.sqlite3";

/// The local state's migrations (version 1 is the schema of earlier releases, so existing files
/// are adopted as they are).
const MIGRATIONS: &[codex_db::Migration] = &[codex_db::Migration {
    version: 1,
    name: "events and runs",
    sql: SCHEMA_V1,
}];

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL,
    effective TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_by_event ON runs(event_id);
CREATE INDEX IF NOT EXISTS events_by_type ON events(type);
";

/// Events and runs in `<dir>/state.sqlite3`.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the state in directory `dir`, usually
    /// `<cwd>/.codex/flow-client`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| FlowError::io(format!("cannot create state dir {}", dir.display()), e))?;
        let path = dir.join(STATE_DB_FILE);
        let err = |e: codex_db::DbError| FlowError::State {
            path: path.clone(),
            message: e.to_string(),
        };
        // codex-db creates the file 0600 and sets WAL, synchronous=FULL and a busy timeout.
        let mut conn = codex_db::sqlite::open(&path).map_err(err)?;
        codex_db::sqlite::migrate(&mut conn, "codex_flow_local", MIGRATIONS).map_err(err)?;
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl std::fmt::Display) -> FlowError {
        FlowError::State {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| self.err("state lock poisoned by a panic"))?;
        f(&mut conn)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, text: &str, what: &str) -> Result<T> {
        serde_json::from_str(text).map_err(|e| self.err(format!("corrupt {what} record: {e}")))
    }

    fn encode<T: serde::Serialize>(&self, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|e| self.err(e))
    }

    /// The record of the one row `sql` selects, decoded; `None` when there is no row.
    fn query_record<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &str,
    ) -> Result<Option<T>> {
        let text: Option<String> = self.with_conn(|conn| {
            conn.query_row(sql, params, |row| row.get(0))
                .optional()
                .map_err(|e| self.err(e))
        })?;
        text.map(|t| self.decode(&t, what)).transpose()
    }

    /// The records of every row `sql` selects, in order, decoded.
    fn query_records<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &str,
    ) -> Result<Vec<T>> {
        let texts: Vec<String> = self.with_conn(|conn| {
            let mut stmt = conn.prepare(sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params, |row| row.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            rows.map(|row| row.map_err(|e| self.err(e))).collect()
        })?;
        texts.iter().map(|t| self.decode(t, what)).collect()
    }
}

impl StateStore for SqliteStore {
    fn claim_event(&self, record: &EventRecord, runs: &[RunView]) -> Result<Claim> {
        let record_text = self.encode(record)?;
        let run_texts = runs
            .iter()
            .map(|r| self.encode(r).map(|t| (r, t)))
            .collect::<Result<Vec<_>>>()?;
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.err(e))?;
            let inserted = tx
                .execute(
                    "INSERT INTO events (id, type, record) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
                    params![record.event.id, record.event.event_type, record_text],
                )
                .map_err(|e| self.err(e))?;
            if inserted == 0 {
                let existing: String = tx
                    .query_row(
                        "SELECT record FROM events WHERE id = ?1",
                        params![record.event.id],
                        |row| row.get(0),
                    )
                    .map_err(|e| self.err(e))?;
                let existing: EventRecord = self.decode(&existing, "event")?;
                return Ok(Claim::Duplicate(existing.run_ids));
            }
            for (run, text) in &run_texts {
                tx.execute(
                    "INSERT INTO runs (id, event_id, status, effective, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![run.id, run.event_id, status_of(run), run.effective_status.as_str(), text],
                )
                .map_err(|e| self.err(e))?;
            }
            tx.commit().map_err(|e| self.err(e))?;
            Ok(Claim::Claimed)
        })
    }

    fn record_replay(
        &self,
        event_id: &str,
        build: &mut dyn FnMut(&EventRecord, u32) -> Vec<RunView>,
    ) -> Result<Vec<RunView>> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.err(e))?;
            let text: Option<String> = tx
                .query_row(
                    "SELECT record FROM events WHERE id = ?1",
                    params![event_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some(text) = text else {
                return Err(FlowError::UnknownEvent(event_id.to_string()));
            };
            let mut record: EventRecord = self.decode(&text, "event")?;
            record.replays += 1;
            let runs = build(&record, record.replays);
            record.run_ids.extend(runs.iter().map(|r| r.id.clone()));
            tx.execute(
                "UPDATE events SET record = ?2 WHERE id = ?1",
                params![event_id, self.encode(&record)?],
            )
            .map_err(|e| self.err(e))?;
            for run in &runs {
                tx.execute(
                    "INSERT INTO runs (id, event_id, status, effective, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![run.id, run.event_id, status_of(run), run.effective_status.as_str(), self.encode(run)?],
                )
                .map_err(|e| self.err(e))?;
            }
            tx.commit().map_err(|e| self.err(e))?;
            Ok(runs)
        })
    }

    fn update_run(
        &self,
        run_id: &str,
        update: &mut dyn FnMut(&mut RunView) -> bool,
    ) -> Result<RunView> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.err(e))?;
            let text: Option<String> = tx
                .query_row(
                    "SELECT record FROM runs WHERE id = ?1",
                    params![run_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some(text) = text else {
                return Err(FlowError::UnknownRun(run_id.to_string()));
            };
            let mut run: RunView = self.decode(&text, "run")?;
            if update(&mut run) {
                run.updated_at = Some(crate::timestamp::now_rfc3339());
                run.refresh();
                tx.execute(
                    "UPDATE runs SET record = ?2, status = ?3, effective = ?4 WHERE id = ?1",
                    params![
                        run_id,
                        self.encode(&run)?,
                        status_of(&run),
                        run.effective_status.as_str()
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.commit().map_err(|e| self.err(e))?;
            }
            Ok(run)
        })
    }

    fn get_run(&self, run_id: &str) -> Result<Option<RunView>> {
        self.query_record(
            "SELECT record FROM runs WHERE id = ?1",
            params![run_id],
            "run",
        )
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunView>> {
        let limit = effective_limit(filter.limit);
        self.query_records(
            "SELECT record FROM runs WHERE (?1 IS NULL OR event_id = ?1) \
             AND (?2 IS NULL OR status = ?2 OR effective = ?2) ORDER BY seq DESC LIMIT ?3",
            params![filter.event_id, filter.status, limit as i64],
            "run",
        )
    }

    fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>> {
        self.query_record(
            "SELECT record FROM events WHERE id = ?1",
            params![event_id],
            "event",
        )
    }

    fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>> {
        let limit = effective_limit(filter.limit);
        self.query_records(
            "SELECT record FROM events WHERE (?1 IS NULL OR type = ?1) ORDER BY seq DESC LIMIT ?2",
            params![filter.event_type, limit as i64],
            "event",
        )
    }

    fn unfinished_runs(&self) -> Result<Vec<RunView>> {
        self.query_records(
            "SELECT record FROM runs WHERE status IN ('queued', 'running') ORDER BY seq",
            [],
            "run",
        )
    }

    fn blocks(&self) -> bool {
        true
    }
}

fn status_of(run: &RunView) -> &'static str {
    run.process_status.map(|s| s.as_str()).unwrap_or("unknown")
}
