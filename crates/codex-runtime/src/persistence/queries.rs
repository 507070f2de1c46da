//! Every query of the stores, written once over [`SqlTx`] and run by both
//! [`super::SqliteStore`] and [`super::PostgresStore`] inside one transaction per call.
//!
//! Gap-free sequences: `append` first touches the conversation row (`UPDATE ... SET last_seq =
//! last_seq`), which takes PostgreSQL's row lock (SQLite's `BEGIN IMMEDIATE` already holds the
//! write lock), so concurrent appends to one conversation run one after the other and each
//! numbers its events from the committed `last_seq`.

use super::error::{require_id, PersistResult, PersistenceError};
use super::jobs::{JobKind, JobProgress, JobRecord, JobState};
use super::model::{
    is_message, item_id, item_kind, item_text, now_millis, page_limit, Conversation,
    ConversationPage, ConversationSummary, EventRecord, ItemPage, ItemRecord, ListConversations,
    NewConversation, Record, RowCounts, Scope, ServerRequestRecord, ServerRequestStatus,
    TurnRecord, TurnStatus, PREVIEW_CHARS,
};
use super::schema::DATA_TABLES;
use super::sql::{params, SqlRow, SqlTx, SqlValue};
use serde_json::Value;

const CONVERSATION_COLS: &str = "conversation_id, thread_id, name, preview, archived, \
     message_count, last_seq, forked_from, created_at, updated_at";

fn conversation_from(scope: &Scope, r: &SqlRow) -> PersistResult<Conversation> {
    Ok(Conversation {
        scope: scope.clone(),
        conversation_id: r.text(0)?,
        thread_id: r.opt_text(1)?,
        name: r.opt_text(2)?,
        preview: r.text(3)?,
        archived: r.int(4)? != 0,
        message_count: r.int(5)?,
        last_seq: r.int(6)?,
        forked_from: r.opt_text(7)?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
    })
}

fn not_found(scope: &Scope, id: &str) -> PersistenceError {
    PersistenceError::ConversationNotFound {
        tenant: scope.tenant.clone(),
        actor: scope.actor.clone(),
        conversation_id: id.to_string(),
    }
}

fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

fn parse_json(table: &'static str, s: Option<String>) -> PersistResult<Option<Value>> {
    s.map(|s| {
        serde_json::from_str(&s).map_err(|e| PersistenceError::Corrupt {
            table,
            message: e.to_string(),
        })
    })
    .transpose()
}

pub(crate) async fn create_conversation<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    new: NewConversation,
) -> PersistResult<Conversation> {
    require_id("conversation_id", &new.conversation_id)?;
    let now = now_millis();
    let n = tx
        .execute(
            "INSERT INTO codex_conversations (tenant, actor, conversation_id, thread_id, name, \
             forked_from, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT DO NOTHING",
            &params![
                &scope.tenant,
                &scope.actor,
                &new.conversation_id,
                new.thread_id.clone(),
                new.name.clone(),
                new.forked_from.clone(),
                now
            ],
        )
        .await?;
    if n == 0 {
        return Err(PersistenceError::ConversationExists {
            conversation_id: new.conversation_id,
        });
    }
    conversation(tx, scope, &new.conversation_id)
        .await?
        .ok_or_else(|| not_found(scope, &new.conversation_id))
}

pub(crate) async fn conversation<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
) -> PersistResult<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLS} FROM codex_conversations \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3"
    );
    let rows = tx
        .query(&sql, &params![&scope.tenant, &scope.actor, id])
        .await?;
    rows.first()
        .map(|r| conversation_from(scope, r))
        .transpose()
}

fn parse_cursor(cursor: &str) -> PersistResult<(i64, String)> {
    let bad = |m: &str| PersistenceError::Invalid {
        what: "cursor",
        message: format!("`{cursor}` {m}"),
    };
    let (at, id) = cursor
        .split_once(':')
        .ok_or_else(|| bad("is not a cursor of list_conversations"))?;
    let at = at
        .parse::<i64>()
        .map_err(|_| bad("does not start with a time"))?;
    Ok((at, id.to_string()))
}

pub(crate) async fn list_conversations<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    query: ListConversations,
) -> PersistResult<ConversationPage> {
    let limit = page_limit(query.limit)?;
    let (at, id) = match &query.cursor {
        Some(c) => parse_cursor(c)?,
        None => (i64::MAX, String::new()),
    };
    let sql = format!(
        "SELECT {CONVERSATION_COLS} FROM codex_conversations \
         WHERE tenant = $1 AND actor = $2 AND ($3 = 1 OR archived = 0) \
         AND (updated_at < $4 OR (updated_at = $4 AND conversation_id < $5)) \
         ORDER BY updated_at DESC, conversation_id DESC LIMIT $6"
    );
    let rows = tx
        .query(
            &sql,
            &params![
                &scope.tenant,
                &scope.actor,
                query.include_archived as i64,
                at,
                id,
                limit + 1
            ],
        )
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for r in rows.iter().take(limit as usize) {
        let c = conversation_from(scope, r)?;
        data.push(ConversationSummary {
            conversation_id: c.conversation_id,
            preview: c.preview,
            updated_at: c.updated_at,
            message_count: c.message_count,
            name: c.name,
            archived: c.archived,
        });
    }
    let next_cursor = if rows.len() as i64 > limit {
        data.last()
            .map(|c| format!("{}:{}", c.updated_at, c.conversation_id))
    } else {
        None
    };
    Ok(ConversationPage { data, next_cursor })
}

/// Sets one column of a conversation (`archived`, `name` or `thread_id`).
pub(crate) async fn update_conversation<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    column: &'static str,
    value: SqlValue,
) -> PersistResult<()> {
    let sql = format!(
        "UPDATE codex_conversations SET {column} = $4, updated_at = $5 \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3"
    );
    let mut p = params![&scope.tenant, &scope.actor, id];
    p.push(value);
    p.push(now_millis().into());
    match tx.execute(&sql, &p).await? {
        0 => Err(not_found(scope, id)),
        _ => Ok(()),
    }
}

/// The counters `append` keeps on the conversation row.
struct Counters {
    last_seq: i64,
    item_count: i64,
    message_count: i64,
    turn_count: i64,
    preview: String,
}

pub(crate) async fn append<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    records: Vec<Record>,
) -> PersistResult<Vec<EventRecord>> {
    let rows = tx
        .query(
            "UPDATE codex_conversations SET last_seq = last_seq \
             WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 \
             RETURNING last_seq, item_count, message_count, turn_count, preview",
            &params![&scope.tenant, &scope.actor, id],
        )
        .await?;
    let row = rows.first().ok_or_else(|| not_found(scope, id))?;
    let mut c = Counters {
        last_seq: row.int(0)?,
        item_count: row.int(1)?,
        message_count: row.int(2)?,
        turn_count: row.int(3)?,
        preview: row.text(4)?,
    };
    let now = now_millis();
    let mut events = Vec::new();
    for record in records {
        if !project(tx, scope, id, &record, &mut c, now).await? {
            continue;
        }
        c.last_seq += 1;
        let payload = serde_json::to_string(&record)?;
        tx.execute(
            "INSERT INTO codex_events (tenant, actor, conversation_id, seq, kind, turn_id, \
             payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &params![
                &scope.tenant,
                &scope.actor,
                id,
                c.last_seq,
                record.kind(),
                record.turn_id(),
                payload,
                now
            ],
        )
        .await?;
        events.push(EventRecord {
            scope: scope.clone(),
            conversation_id: id.to_string(),
            seq: c.last_seq,
            record,
            created_at: now,
        });
    }
    if !events.is_empty() {
        tx.execute(
            "UPDATE codex_conversations SET last_seq = $4, item_count = $5, message_count = $6, \
             turn_count = $7, preview = $8, updated_at = $9 \
             WHERE tenant = $1 AND actor = $2 AND conversation_id = $3",
            &params![
                &scope.tenant,
                &scope.actor,
                id,
                c.last_seq,
                c.item_count,
                c.message_count,
                c.turn_count,
                c.preview.clone(),
                now
            ],
        )
        .await?;
    }
    Ok(events)
}

/// Applies one record to the tables; `false` when it repeats what is stored (no event then).
async fn project<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    record: &Record,
    c: &mut Counters,
    now: i64,
) -> PersistResult<bool> {
    let key = || params![&scope.tenant, &scope.actor, id];
    match record {
        Record::TurnStarted { turn_id, prompt } => {
            require_id("turn_id", turn_id)?;
            let mut p = key();
            p.extend(params![turn_id, c.turn_count + 1, prompt.clone(), now]);
            let n = tx
                .execute(
                    "INSERT INTO codex_turns (tenant, actor, conversation_id, turn_id, position, \
                     status, prompt, started_at) VALUES ($1, $2, $3, $4, $5, 'inProgress', $6, $7) \
                     ON CONFLICT DO NOTHING",
                    &p,
                )
                .await?;
            if n == 1 {
                c.turn_count += 1;
            }
            Ok(n == 1)
        }
        Record::ItemCompleted { turn_id, item } => {
            let item_id = item_id(item).ok_or_else(|| PersistenceError::Invalid {
                what: "item",
                message: format!("an item of turn `{turn_id}` has no `id`"),
            })?;
            require_id("item id", item_id)?;
            let kind = item_kind(item);
            let text = item_text(item);
            let mut p = key();
            p.extend(params![
                turn_id,
                item_id,
                c.item_count + 1,
                kind,
                text.clone(),
                item.to_string(),
                now
            ]);
            let n = tx
                .execute(
                    "INSERT INTO codex_items (tenant, actor, conversation_id, turn_id, item_id, \
                     position, kind, text, raw, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                    &p,
                )
                .await?;
            if n == 1 {
                c.item_count += 1;
                if is_message(kind) {
                    c.message_count += 1;
                }
                if kind == "userMessage" && c.preview.is_empty() {
                    c.preview = text.chars().take(PREVIEW_CHARS).collect();
                }
            }
            Ok(n == 1)
        }
        Record::ServerRequest {
            turn_id,
            request_id,
            method,
            item_id,
            params: req,
        } => {
            require_id("request_id", request_id)?;
            let mut p = key();
            p.extend(params![
                request_id,
                turn_id.clone(),
                item_id.clone(),
                method,
                req.to_string(),
                now
            ]);
            let n = tx
                .execute(
                    "INSERT INTO codex_server_requests (tenant, actor, conversation_id, request_id, \
                     turn_id, item_id, method, params, status, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9) ON CONFLICT DO NOTHING",
                    &p,
                )
                .await?;
            Ok(n == 1)
        }
        Record::ServerRequestAnswered {
            request_id,
            answer,
            answered_by,
        } => {
            let mut p = key();
            p.extend(params![request_id, answer.to_string(), answered_by, now]);
            let n = tx
                .execute(
                    "UPDATE codex_server_requests SET status = 'answered', answer = $5, \
                     answered_by = $6, answered_at = $7 WHERE tenant = $1 AND actor = $2 \
                     AND conversation_id = $3 AND request_id = $4 AND status = 'pending'",
                    &p,
                )
                .await?;
            if n == 0 {
                let mut p = key();
                p.push(request_id.into());
                let exists = tx
                    .query(
                        "SELECT 1 FROM codex_server_requests WHERE tenant = $1 AND actor = $2 \
                         AND conversation_id = $3 AND request_id = $4",
                        &p,
                    )
                    .await?;
                if exists.is_empty() {
                    return Err(PersistenceError::Invalid {
                        what: "request_id",
                        message: format!("no server request `{request_id}` in `{id}` to answer"),
                    });
                }
            }
            Ok(n == 1)
        }
        Record::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        } => {
            require_id("turn_id", turn_id)?;
            let mut p = key();
            p.extend(params![
                turn_id,
                status.as_str(),
                json_text(error),
                json_text(usage),
                now
            ]);
            let n = tx
                .execute(
                    "UPDATE codex_turns SET status = $5, error = $6, usage = $7, completed_at = $8 \
                     WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 AND turn_id = $4 \
                     AND status = 'inProgress'",
                    &p,
                )
                .await?;
            if n == 1 {
                return Ok(true);
            }
            // A turn seen only at its end (an import of a turn with no start): insert it whole.
            let mut p = key();
            p.extend(params![
                turn_id,
                c.turn_count + 1,
                status.as_str(),
                json_text(error),
                json_text(usage),
                now
            ]);
            let n = tx
                .execute(
                    "INSERT INTO codex_turns (tenant, actor, conversation_id, turn_id, position, \
                     status, error, usage, started_at, completed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING",
                    &p,
                )
                .await?;
            if n == 1 {
                c.turn_count += 1;
            }
            Ok(n == 1)
        }
        Record::Deltas { .. } | Record::Error { .. } | Record::Lagged { .. } => Ok(true),
    }
}

pub(crate) async fn read_turns<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
) -> PersistResult<Vec<TurnRecord>> {
    let rows = tx
        .query(
            "SELECT turn_id, position, status, prompt, error, usage, started_at, completed_at \
             FROM codex_turns WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 \
             ORDER BY position",
            &params![&scope.tenant, &scope.actor, id],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            let status = r.text(2)?;
            Ok(TurnRecord {
                turn_id: r.text(0)?,
                position: r.int(1)?,
                status: TurnStatus::parse(&status).ok_or_else(|| PersistenceError::Corrupt {
                    table: "codex_turns",
                    message: format!("unknown status `{status}`"),
                })?,
                prompt: r.opt_text(3)?,
                error: parse_json("codex_turns", r.opt_text(4)?)?,
                usage: parse_json("codex_turns", r.opt_text(5)?)?,
                started_at: r.int(6)?,
                completed_at: r.opt_int(7)?,
            })
        })
        .collect()
}

pub(crate) async fn read_items<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    after: i64,
    limit: u32,
) -> PersistResult<ItemPage> {
    let limit = page_limit(limit)?;
    let rows = tx
        .query(
            "SELECT turn_id, item_id, position, kind, text, raw FROM codex_items \
             WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 AND position > $4 \
             ORDER BY position LIMIT $5",
            &params![&scope.tenant, &scope.actor, id, after, limit + 1],
        )
        .await?;
    let more = rows.len() as i64 > limit;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows.into_iter().take(limit as usize) {
        items.push(ItemRecord {
            turn_id: r.text(0)?,
            item_id: r.text(1)?,
            position: r.int(2)?,
            kind: r.text(3)?,
            text: r.text(4)?,
            raw: parse_json("codex_items", Some(r.text(5)?))?.unwrap_or(Value::Null),
        });
    }
    let next_after = if more {
        items.last().map(|i| i.position)
    } else {
        None
    };
    Ok(ItemPage { items, next_after })
}

pub(crate) async fn read_events<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    after_seq: i64,
    limit: u32,
) -> PersistResult<Vec<EventRecord>> {
    let limit = page_limit(limit)?;
    let rows = tx
        .query(
            "SELECT seq, payload, created_at FROM codex_events \
             WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 AND seq > $4 \
             ORDER BY seq LIMIT $5",
            &params![&scope.tenant, &scope.actor, id, after_seq, limit],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            let payload = r.text(1)?;
            Ok(EventRecord {
                scope: scope.clone(),
                conversation_id: id.to_string(),
                seq: r.int(0)?,
                record: serde_json::from_str(&payload).map_err(|e| PersistenceError::Corrupt {
                    table: "codex_events",
                    message: e.to_string(),
                })?,
                created_at: r.int(2)?,
            })
        })
        .collect()
}

pub(crate) async fn server_requests<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    pending_only: bool,
) -> PersistResult<Vec<ServerRequestRecord>> {
    let rows = tx
        .query(
            "SELECT request_id, turn_id, item_id, method, params, status, answer, answered_by, \
             created_at, answered_at FROM codex_server_requests \
             WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 \
             AND ($4 = 0 OR status = 'pending') ORDER BY created_at, request_id",
            &params![&scope.tenant, &scope.actor, id, pending_only as i64],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ServerRequestRecord {
                request_id: r.text(0)?,
                turn_id: r.opt_text(1)?,
                item_id: r.opt_text(2)?,
                method: r.text(3)?,
                params: parse_json("codex_server_requests", Some(r.text(4)?))?
                    .unwrap_or(Value::Null),
                status: if r.text(5)? == "pending" {
                    ServerRequestStatus::Pending
                } else {
                    ServerRequestStatus::Answered
                },
                answer: parse_json("codex_server_requests", r.opt_text(6)?)?,
                answered_by: r.opt_text(7)?,
                created_at: r.int(8)?,
                answered_at: r.opt_int(9)?,
            })
        })
        .collect()
}

pub(crate) async fn abandon_open_turns<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
) -> PersistResult<Vec<String>> {
    let rows = tx
        .query(
            "SELECT turn_id FROM codex_turns WHERE tenant = $1 AND actor = $2 \
             AND conversation_id = $3 AND status = 'inProgress' ORDER BY position",
            &params![&scope.tenant, &scope.actor, id],
        )
        .await?;
    let ids = rows
        .iter()
        .map(|r| r.text(0))
        .collect::<PersistResult<Vec<_>>>()?;
    let records = ids
        .iter()
        .map(|t| Record::TurnCompleted {
            turn_id: t.clone(),
            status: TurnStatus::Abandoned,
            error: Some(serde_json::json!({
                "message": "the process recording this turn ended before the turn did"
            })),
            usage: None,
        })
        .collect::<Vec<_>>();
    if !records.is_empty() {
        append(tx, scope, id, records).await?;
    }
    Ok(ids)
}

/// Deletes the rows of `tables` matching `filter` (`AND`-ed after tenant and actor).
async fn delete_where<T: SqlTx>(
    tx: &mut T,
    tables: &[&str],
    filter: &str,
    p: &[SqlValue],
) -> PersistResult<u64> {
    let mut n = 0;
    for table in tables {
        let sql = format!("DELETE FROM {table} WHERE tenant = $1 AND actor = $2{filter}");
        n += tx.execute(&sql, p).await?;
    }
    Ok(n)
}

pub(crate) async fn delete_conversation<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
) -> PersistResult<u64> {
    let p = params![&scope.tenant, &scope.actor, id];
    delete_where(tx, DATA_TABLES, " AND conversation_id = $3", &p).await
}

pub(crate) async fn delete_turn<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    turn_id: &str,
) -> PersistResult<u64> {
    let p = params![&scope.tenant, &scope.actor, id, turn_id];
    let n = delete_where(
        tx,
        &DATA_TABLES[1..],
        " AND conversation_id = $3 AND turn_id = $4",
        &p,
    )
    .await?;
    tx.execute(
        "UPDATE codex_conversations SET updated_at = $4, message_count = (SELECT count(*) \
         FROM codex_items i WHERE i.tenant = $1 AND i.actor = $2 AND i.conversation_id = $3 \
         AND i.kind IN ('userMessage', 'agentMessage')) \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3",
        &params![&scope.tenant, &scope.actor, id, now_millis()],
    )
    .await?;
    Ok(n)
}

pub(crate) async fn purge_actor<T: SqlTx>(tx: &mut T, scope: &Scope) -> PersistResult<u64> {
    let p = params![&scope.tenant, &scope.actor];
    let n = delete_where(tx, DATA_TABLES, "", &p).await?;
    // Finished jobs of the actor go too; a running purge keeps its own row to report on.
    let m = tx
        .execute(
            "DELETE FROM codex_jobs WHERE tenant = $1 AND actor = $2 \
             AND state IN ('synced', 'done', 'failed', 'cancelled')",
            &p,
        )
        .await?;
    Ok(n + m)
}

pub(crate) async fn count_rows<T: SqlTx>(
    tx: &mut T,
    scope: Option<&Scope>,
) -> PersistResult<RowCounts> {
    let mut counts = [0i64; 6];
    let tables = DATA_TABLES.iter().chain(std::iter::once(&"codex_jobs"));
    for (i, table) in tables.enumerate() {
        let rows = match scope {
            Some(s) => {
                let sql = format!("SELECT count(*) FROM {table} WHERE tenant = $1 AND actor = $2");
                tx.query(&sql, &params![&s.tenant, &s.actor]).await?
            }
            None => {
                tx.query(&format!("SELECT count(*) FROM {table}"), &[])
                    .await?
            }
        };
        counts[i] = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    }
    let [conversations, turns, items, server_requests, events, jobs] = counts;
    Ok(RowCounts {
        conversations,
        turns,
        items,
        server_requests,
        events,
        jobs,
    })
}

const JOB_COLS: &str =
    "job_id, tenant, actor, kind, state, progress, error, run_at, created_at, updated_at";

fn job_from(r: &SqlRow) -> PersistResult<JobRecord> {
    let corrupt = |e: serde_json::Error| PersistenceError::Corrupt {
        table: "codex_jobs",
        message: e.to_string(),
    };
    let state = r.text(4)?;
    Ok(JobRecord {
        job_id: r.text(0)?,
        scope: Scope {
            tenant: r.text(1)?,
            actor: r.text(2)?,
        },
        kind: serde_json::from_str::<JobKind>(&r.text(3)?).map_err(corrupt)?,
        state: JobState::parse(&state).ok_or_else(|| PersistenceError::Corrupt {
            table: "codex_jobs",
            message: format!("unknown state `{state}`"),
        })?,
        progress: serde_json::from_str::<JobProgress>(&r.text(5)?).map_err(corrupt)?,
        error: r.opt_text(6)?,
        run_at: r.int(7)?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
    })
}

pub(crate) async fn insert_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<()> {
    tx.execute(
        "INSERT INTO codex_jobs (job_id, tenant, actor, kind, state, progress, error, run_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &params![
            &job.job_id,
            &job.scope.tenant,
            &job.scope.actor,
            serde_json::to_string(&job.kind)?,
            job.state.as_str(),
            serde_json::to_string(&job.progress)?,
            job.error.clone(),
            job.run_at,
            job.created_at,
            job.updated_at
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn update_job<T: SqlTx>(tx: &mut T, job: &JobRecord) -> PersistResult<bool> {
    let n = tx
        .execute(
            "UPDATE codex_jobs SET state = $2, progress = $3, error = $4, run_at = $5, \
             updated_at = $6 WHERE job_id = $1 \
             AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
            &params![
                &job.job_id,
                job.state.as_str(),
                serde_json::to_string(&job.progress)?,
                job.error.clone(),
                job.run_at,
                now_millis()
            ],
        )
        .await?;
    Ok(n == 1)
}

pub(crate) async fn job<T: SqlTx>(tx: &mut T, job_id: &str) -> PersistResult<Option<JobRecord>> {
    let sql = format!("SELECT {JOB_COLS} FROM codex_jobs WHERE job_id = $1");
    let rows = tx.query(&sql, &params![job_id]).await?;
    rows.first().map(job_from).transpose()
}

pub(crate) async fn cancel_job<T: SqlTx>(
    tx: &mut T,
    job_id: &str,
) -> PersistResult<Option<JobRecord>> {
    tx.execute(
        "UPDATE codex_jobs SET state = 'cancelled', updated_at = $2 WHERE job_id = $1 \
         AND state NOT IN ('synced', 'done', 'failed', 'cancelled')",
        &params![job_id, now_millis()],
    )
    .await?;
    job(tx, job_id).await
}

pub(crate) async fn runnable_jobs<T: SqlTx>(
    tx: &mut T,
    now: i64,
    limit: u32,
) -> PersistResult<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLS} FROM codex_jobs WHERE (state = 'queued' AND run_at <= $1) \
         OR state IN ('running', 'verifying') ORDER BY created_at, job_id LIMIT $2"
    );
    let rows = tx.query(&sql, &params![now, page_limit(limit)?]).await?;
    rows.iter().map(job_from).collect()
}
