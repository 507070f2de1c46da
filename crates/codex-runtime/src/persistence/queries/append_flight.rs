//! `append` in one round trip, for a backend that pipelines and runs data-modifying CTEs
//! (PostgreSQL, [`SqlTx::ONE_FLIGHT`]).
//!
//! [`super::append`] reads the conversation's counters, then writes each record's projection,
//! its event and the counters: three round trips for a one-record append, each a wake-up of
//! the server and of the client. Here every record is one statement that reads the counters,
//! writes its projection, bumps the counters and inserts its event, all on the server, and the
//! whole append (`BEGIN`, the row lock, one statement per record, `COMMIT`) goes out as one
//! pipeline. The rules are those of [`super::append`], statement for statement:
//!
//! - the conversation row is locked first (`SELECT ... FOR UPDATE`), so concurrent appends to
//!   one conversation still run one after the other and number their events gap-free. Under
//!   `READ COMMITTED` each later statement takes a new snapshot, which sees every commit made
//!   before the lock was granted and this transaction's own earlier statements;
//! - a record that repeats what is stored (its projection's insert conflicts, or its turn is
//!   already completed) changes nothing and gets no event: its statement returns no row;
//! - any error aborts the transaction, and the pipelined `COMMIT` then commits nothing.
//!
//! An answer to a server request takes the three-trip path: an answer to a request that was
//! never stored must fail the whole append, which a statement cannot tell from a repeat.

use super::not_found;
use super::projection::{projection, Projection};
use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::model::{now_millis, EventRecord, Record, Scope};
use crate::persistence::sql::{params, SqlTx, SqlValue};
use std::sync::LazyLock;

/// Whether [`append`] can take `records` (else [`super::append`] does).
pub(crate) fn takes(records: &[Record]) -> bool {
    !records
        .iter()
        .any(|r| matches!(r, Record::ServerRequestAnswered { .. }))
}

/// Locks the conversation row for the statements after it; one row when it exists.
const LOCK: &str = "SELECT 1 FROM codex_conversations \
     WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 FOR UPDATE";

/// `$1`–`$3` the key, `$4` the time, `$5`–`$7` the event's kind, turn and payload; `conv` is
/// the conversation's row as this statement sees it.
const CONV: &str = "WITH conv AS (SELECT last_seq, item_count, message_count, turn_count, \
     preview FROM codex_conversations WHERE tenant = $1 AND actor = $2 AND conversation_id = $3)";

/// The end of every statement: the event, numbered from the bumped `last_seq`.
const EVENT: &str = "INSERT INTO codex_events (tenant, actor, conversation_id, seq, kind, \
     turn_id, payload, created_at) SELECT $1, $2, $3, bump.last_seq, $5::text, $6::text, $7::text, $4::bigint FROM bump \
     RETURNING seq";

/// `bump`: the counters' update, joined with `from` (`conv`, and `proj` when the record has a
/// projection, so no projected row means no bump and no event).
fn bump(from: &str, set: &str) -> String {
    format!(
        "bump AS (UPDATE codex_conversations c SET last_seq = conv.last_seq + 1, \
         updated_at = $4::bigint{set} FROM {from} WHERE c.tenant = $1 AND c.actor = $2 \
         AND c.conversation_id = $3 RETURNING c.last_seq)"
    )
}

/// `TurnStarted`: the turn, at the next position.
static TURN_STARTED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CONV}, proj AS (INSERT INTO codex_turns (tenant, actor, conversation_id, turn_id, \
         position, status, prompt, started_at) SELECT $1, $2, $3, $8::text, \
         conv.turn_count + 1, 'inProgress', $9::text, $4::bigint FROM conv \
         ON CONFLICT DO NOTHING RETURNING 1), {} {EVENT}",
        bump("conv, proj", ", turn_count = conv.turn_count + 1")
    )
});

/// `ItemCompleted`: the item at the next position, with the message count and the preview.
static ITEM_COMPLETED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CONV}, proj AS (INSERT INTO codex_items (tenant, actor, conversation_id, turn_id, \
         item_id, position, kind, text, raw, created_at) SELECT $1, $2, $3, $8::text, \
         $9::text, conv.item_count + 1, $10::text, $11::text, $12::text, $4::bigint FROM conv \
         ON CONFLICT DO NOTHING RETURNING 1), {} {EVENT}",
        bump(
            "conv, proj",
            ", item_count = conv.item_count + 1, \
             message_count = conv.message_count + $13::bigint, \
             preview = CASE WHEN conv.preview = '' AND $14::text IS NOT NULL \
             THEN $14::text ELSE conv.preview END"
        )
    )
});

/// `ServerRequest`: the request, pending.
static SERVER_REQUEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CONV}, proj AS (INSERT INTO codex_server_requests (tenant, actor, conversation_id, \
         request_id, turn_id, item_id, method, params, status, created_at) SELECT $1, $2, $3, \
         $8::text, $9::text, $10::text, $11::text, $12::text, 'pending', $4::bigint FROM conv \
         ON CONFLICT DO NOTHING RETURNING 1), {} {EVENT}",
        bump("conv, proj", "")
    )
});

/// `TurnCompleted`: the turn in progress (or abandoned by a takeover, when this is its real
/// end) is completed (`done`); a turn seen only at its end
/// (an import of a turn with no start) is inserted whole (`whole`); a completed one is a
/// repeat (neither: no `proj` row).
static TURN_COMPLETED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CONV}, done AS (UPDATE codex_turns SET status = $9::text, error = $10::text, \
         usage = $11::text, completed_at = $4::bigint WHERE tenant = $1 AND actor = $2 \
         AND conversation_id = $3 AND turn_id = $8::text AND (status = 'inProgress' \
         OR (status = 'abandoned' AND $9::text <> 'abandoned')) RETURNING 0 AS added), \
         whole AS (INSERT INTO codex_turns (tenant, actor, conversation_id, turn_id, position, \
         status, error, usage, started_at, completed_at) SELECT $1, $2, $3, $8::text, \
         conv.turn_count + 1, $9::text, $10::text, $11::text, $4::bigint, $4::bigint FROM conv \
         WHERE NOT EXISTS (SELECT 1 FROM done) ON CONFLICT DO NOTHING RETURNING 1 AS added), \
         proj AS (SELECT added FROM done UNION ALL SELECT added FROM whole), {} {EVENT}",
        bump("conv, proj", ", turn_count = conv.turn_count + proj.added")
    )
});

/// `Deltas`, `Error`, `Lagged`: the event only.
static EVENT_ONLY: LazyLock<String> =
    LazyLock::new(|| format!("{CONV}, {} {EVENT}", bump("conv", "")));

/// The statement (and its record-specific parameters, from `$8`) of one record.
fn statement(record: &Record) -> PersistResult<(&'static str, Vec<SqlValue>)> {
    Ok(match projection(record)? {
        Projection::TurnStarted { turn_id, prompt } => {
            (TURN_STARTED.as_str(), params![turn_id, prompt].to_vec())
        }
        Projection::Item(item) => {
            let p = params![
                item.turn_id,
                item.item_id,
                item.kind,
                item.text,
                item.raw,
                i64::from(item.message),
                item.preview
            ];
            (ITEM_COMPLETED.as_str(), p.to_vec())
        }
        Projection::ServerRequest {
            request_id,
            turn_id,
            item_id,
            method,
            params: req,
        } => {
            let p = params![request_id, turn_id, item_id, method, req];
            (SERVER_REQUEST.as_str(), p.to_vec())
        }
        Projection::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        } => {
            let p = params![turn_id, status, error, usage];
            (TURN_COMPLETED.as_str(), p.to_vec())
        }
        Projection::EventOnly => (EVENT_ONLY.as_str(), Vec::new()),
        Projection::ServerRequestAnswered { .. } => {
            return Err(PersistenceError::Invalid {
                what: "record",
                message: "an answer to a server request takes the three-trip append".into(),
            })
        }
    })
}

/// Appends `records` in one round trip; see the module doc.
pub(crate) async fn append<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    records: Vec<Record>,
) -> PersistResult<Vec<EventRecord>> {
    let now = now_millis();
    let key = || params![&scope.tenant, &scope.actor, id].to_vec();
    let mut statements = Vec::with_capacity(records.len() + 1);
    statements.push((LOCK, key()));
    for record in &records {
        let (sql, specific) = statement(record)?;
        let mut p = key();
        p.extend(params![
            now,
            record.kind(),
            record.turn_id(),
            serde_json::to_string(record)?
        ]);
        p.extend(specific);
        statements.push((sql, p));
    }
    let mut results = tx.query_all_and_commit(statements).await?.into_iter();
    if results.next().is_none_or(|locked| locked.is_empty()) {
        return Err(not_found(scope, id));
    }
    let mut events = Vec::new();
    for (record, rows) in records.into_iter().zip(results) {
        if let Some(row) = rows.first() {
            events.push(EventRecord {
                scope: scope.clone(),
                conversation_id: id.to_string(),
                seq: row.int(0)?,
                record,
                created_at: now,
            });
        }
    }
    Ok(events)
}
