//! Every query of the stores, written once over [`SqlTx`] and run by both
//! [`super::SqliteStore`] and [`super::PostgresStore`] inside one transaction per call.
//!
//! Gap-free sequences: `append` first touches the conversation row (`UPDATE ... SET last_seq =
//! last_seq`), which takes PostgreSQL's row lock (SQLite's `BEGIN IMMEDIATE` already holds the
//! write lock), so concurrent appends to one conversation run one after the other and each
//! numbers its events from the committed `last_seq`.

mod append;
mod append_flight;
mod jobs;
mod lease;
mod lifecycle;
mod projection;
mod read;

pub(crate) use append::{abandon_open_turns, append};
pub(crate) use jobs::{
    cancel_job, claim_job, claim_next_job, insert_job, job, renew_job_lease, update_job,
};
pub(crate) use lease::{
    acquire_session_lease, release_session_lease, renew_session_lease, session_lease,
};
pub(crate) use lifecycle::{count_rows, delete_conversation, delete_turn, purge_actor};
pub(crate) use read::{read_events, read_items, read_turns, server_requests};

use super::error::{require_id, PersistResult, PersistenceError};
use super::model::{
    now_millis, page_limit, Conversation, ConversationPage, ConversationSummary, ListConversations,
    NewConversation, Scope,
};
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

pub(super) fn not_found(scope: &Scope, id: &str) -> PersistenceError {
    PersistenceError::ConversationNotFound {
        tenant: scope.tenant.clone(),
        actor: scope.actor.clone(),
        conversation_id: id.to_string(),
    }
}

pub(super) fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

pub(super) fn parse_json(table: &'static str, s: Option<String>) -> PersistResult<Option<Value>> {
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
    let mut p = params![&scope.tenant, &scope.actor, id].to_vec();
    p.push(value);
    p.push(now_millis().into());
    match tx.execute(&sql, &p).await? {
        0 => Err(not_found(scope, id)),
        _ => Ok(()),
    }
}
