//! `append`: records to events, with their projections into turns, items and requests.

use super::json_text;
use super::not_found;
use super::projection::{projection, Projection};
use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::model::{now_millis, EventRecord, Record, Scope, TurnStatus};
use crate::persistence::sql::{params, SqlTx};

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
    if T::ONE_FLIGHT && super::append_flight::takes(&records) {
        return super::append_flight::append(tx, scope, id, records).await;
    }
    let now = now_millis();
    let lock = (
        "UPDATE codex_conversations SET last_seq = last_seq \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 \
         RETURNING last_seq, item_count, message_count, turn_count, preview",
        params![&scope.tenant, &scope.actor, id],
    );
    // The write that ends a turn starts with its `turn_completed`, whose update needs nothing
    // from the conversation row: it goes out with the lock (after it, so still under it).
    let mut completed_early = None;
    let rows = match records.first() {
        Some(Record::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        }) if !turn_id.trim().is_empty() => {
            let p = complete_turn_params(
                scope,
                id,
                turn_id,
                status.as_str(),
                json_text(error),
                json_text(usage),
                now,
            );
            let (rows, n) = tx
                .query_then_execute((lock.0, &lock.1), (COMPLETE_TURN, &p))
                .await?;
            completed_early = Some(n);
            rows
        }
        _ => tx.query(lock.0, &lock.1).await?,
    };
    let row = rows.first().ok_or_else(|| not_found(scope, id))?;
    let mut c = Counters {
        last_seq: row.int(0)?,
        item_count: row.int(1)?,
        message_count: row.int(2)?,
        turn_count: row.int(3)?,
        preview: row.text(4)?,
    };
    let mut events = Vec::new();
    for record in records {
        let done = completed_early.take();
        if !project(tx, scope, id, &record, &mut c, now, done).await? {
            continue;
        }
        c.last_seq += 1;
        let payload = serde_json::to_string(&record)?;
        tx.execute_later(
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
        tx.execute_later(
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

/// Ends a turn in progress; also a turn marked abandoned (by a resume that took the
/// conversation over) whose real end arrives after all, so that end is recorded, not dropped.
const COMPLETE_TURN: &str = "UPDATE codex_turns SET status = $5, error = $6, usage = $7, \
     completed_at = $8 WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 \
     AND turn_id = $4 AND (status = 'inProgress' OR (status = 'abandoned' AND $5 <> 'abandoned'))";

fn complete_turn_params(
    scope: &Scope,
    id: &str,
    turn_id: &str,
    status: &str,
    error: Option<String>,
    usage: Option<String>,
    now: i64,
) -> Vec<crate::persistence::sql::SqlValue> {
    params![
        &scope.tenant,
        &scope.actor,
        id,
        turn_id,
        status,
        error,
        usage,
        now
    ]
    .to_vec()
}

/// Applies one record to the tables; `false` when it repeats what is stored (no event then).
/// `completed`: the rows [`COMPLETE_TURN`] changed when it already ran for this record.
async fn project<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    record: &Record,
    c: &mut Counters,
    now: i64,
    completed: Option<u64>,
) -> PersistResult<bool> {
    let key = || params![&scope.tenant, &scope.actor, id].to_vec();
    match projection(record)? {
        Projection::TurnStarted { turn_id, prompt } => {
            let mut p = key();
            p.extend(params![turn_id, c.turn_count + 1, prompt, now]);
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
        Projection::Item(item) => {
            let mut p = key();
            p.extend(params![
                item.turn_id,
                item.item_id,
                c.item_count + 1,
                item.kind,
                item.text,
                item.raw,
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
                if item.message {
                    c.message_count += 1;
                }
                if let (Some(preview), true) = (item.preview, c.preview.is_empty()) {
                    c.preview = preview;
                }
            }
            Ok(n == 1)
        }
        Projection::ServerRequest {
            request_id,
            turn_id,
            item_id,
            method,
            params: req,
        } => {
            let mut p = key();
            p.extend(params![request_id, turn_id, item_id, method, req, now]);
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
        Projection::ServerRequestAnswered {
            request_id,
            answer,
            answered_by,
        } => {
            let mut p = key();
            p.extend(params![request_id, answer, answered_by, now]);
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
        Projection::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        } => {
            let n = match completed {
                Some(n) => n,
                None => {
                    let p = complete_turn_params(
                        scope,
                        id,
                        turn_id,
                        status,
                        error.clone(),
                        usage.clone(),
                        now,
                    );
                    tx.execute(COMPLETE_TURN, &p).await?
                }
            };
            if n == 1 {
                return Ok(true);
            }
            // A turn seen only at its end (an import of a turn with no start): insert it whole.
            let mut p = key();
            p.extend(params![
                turn_id,
                c.turn_count + 1,
                status,
                error,
                usage,
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
        Projection::EventOnly => Ok(true),
    }
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
