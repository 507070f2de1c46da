//! Deletions (conversation, turn, actor) and row counts.

use crate::persistence::error::PersistResult;
use crate::persistence::model::{now_millis, RowCounts, Scope};
use crate::persistence::schema::DATA_TABLES;
use crate::persistence::sql::{params, SqlTx, SqlValue};

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
    // Its ownership lease goes too (not counted: it is not conversation data).
    delete_where(
        tx,
        &["codex_session_leases"],
        " AND conversation_id = $3",
        &p,
    )
    .await?;
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
    delete_where(tx, &["codex_session_leases"], "", &p).await?;
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
