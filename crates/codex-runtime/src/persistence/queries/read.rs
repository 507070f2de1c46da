//! Reads: turns, items, events and server requests of one conversation.

use super::parse_json;
use crate::persistence::error::{PersistResult, PersistenceError};
use crate::persistence::model::{
    page_limit, EventRecord, ItemPage, ItemRecord, Scope, ServerRequestRecord, ServerRequestStatus,
    TurnRecord, TurnStatus,
};
use crate::persistence::sql::{params, SqlTx};
use serde_json::Value;

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
