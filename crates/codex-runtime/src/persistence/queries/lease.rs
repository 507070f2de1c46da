//! The session ownership leases (`codex_session_leases`); see [`crate::persistence::lease`].

use crate::persistence::error::PersistResult;
use crate::persistence::lease::{LeaseAcquire, SessionLease};
use crate::persistence::model::Scope;
use crate::persistence::sql::{params, SqlRow, SqlTx};

const LEASE_COLS: &str = "owner, token, acquired_at, heartbeat_at, expires_at";

fn lease_from(scope: &Scope, id: &str, r: &SqlRow) -> PersistResult<SessionLease> {
    Ok(SessionLease {
        scope: scope.clone(),
        conversation_id: id.to_string(),
        owner: r.text(0)?,
        token: r.int(1)?,
        acquired_at: r.int(2)?,
        heartbeat_at: r.int(3)?,
        expires_at: r.int(4)?,
    })
}

pub(crate) async fn session_lease<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
) -> PersistResult<Option<SessionLease>> {
    let sql = format!(
        "SELECT {LEASE_COLS} FROM codex_session_leases \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3"
    );
    let rows = tx
        .query(&sql, &params![&scope.tenant, &scope.actor, id])
        .await?;
    rows.first().map(|r| lease_from(scope, id, r)).transpose()
}

/// Takes the lease for `owner` when it is free, expired or already `owner`'s, in one upsert
/// (the row lock on PostgreSQL, the write lock on SQLite, decide between racing instances).
pub(crate) async fn acquire_session_lease<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    owner: &str,
    now: i64,
    ttl: i64,
) -> PersistResult<LeaseAcquire> {
    let before = session_lease(tx, scope, id).await?;
    // `$4` owner, `$5` now, `$6` expiry. The token stays while a live lease is renewed by its
    // owner and grows whenever the lease is taken afresh.
    let sql = format!(
        "INSERT INTO codex_session_leases (tenant, actor, conversation_id, owner, token, \
         acquired_at, heartbeat_at, expires_at) VALUES ($1, $2, $3, $4, 1, $5, $5, $6) \
         ON CONFLICT (tenant, actor, conversation_id) DO UPDATE SET owner = $4, \
         token = CASE WHEN codex_session_leases.owner = $4 \
         AND codex_session_leases.expires_at > $5 THEN codex_session_leases.token \
         ELSE codex_session_leases.token + 1 END, \
         acquired_at = CASE WHEN codex_session_leases.owner = $4 \
         AND codex_session_leases.expires_at > $5 THEN codex_session_leases.acquired_at \
         ELSE $5 END, heartbeat_at = $5, expires_at = $6 \
         WHERE codex_session_leases.owner = $4 OR codex_session_leases.expires_at <= $5 \
         RETURNING {LEASE_COLS}"
    );
    let p = params![
        &scope.tenant,
        &scope.actor,
        id,
        owner,
        now,
        now.saturating_add(ttl)
    ];
    let rows = tx.query(&sql, &p).await?;
    match rows.first() {
        Some(r) => {
            let lease = lease_from(scope, id, r)?;
            let renewed = before.is_some_and(|b| b.token == lease.token);
            Ok(LeaseAcquire::Acquired { lease, renewed })
        }
        None => match session_lease(tx, scope, id).await? {
            Some(held) => Ok(LeaseAcquire::Held(held)),
            // Cannot happen inside one transaction; answer as held by nobody known.
            None => Err(crate::persistence::PersistenceError::Invalid {
                what: "session lease",
                message: format!("the lease of `{id}` vanished while it was acquired"),
            }),
        },
    }
}

/// Extends `owner`'s lease with fencing token `token`; `None` when it is no longer theirs.
pub(crate) async fn renew_session_lease<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    owner: &str,
    token: i64,
    now: i64,
    ttl: i64,
) -> PersistResult<Option<SessionLease>> {
    // A lease that expired but was not taken over yet is still the owner's to renew: nobody
    // else acted on it (a takeover bumps the token).
    let sql = format!(
        "UPDATE codex_session_leases SET heartbeat_at = $6, expires_at = $7 \
         WHERE tenant = $1 AND actor = $2 AND conversation_id = $3 AND owner = $4 \
         AND token = $5 RETURNING {LEASE_COLS}"
    );
    let p = params![
        &scope.tenant,
        &scope.actor,
        id,
        owner,
        token,
        now,
        now.saturating_add(ttl)
    ];
    let rows = tx.query(&sql, &p).await?;
    rows.first().map(|r| lease_from(scope, id, r)).transpose()
}

/// Ends `owner`'s lease with token `token` now (it expires; the row stays so the token keeps
/// growing); `false` when it was not theirs any more.
pub(crate) async fn release_session_lease<T: SqlTx>(
    tx: &mut T,
    scope: &Scope,
    id: &str,
    owner: &str,
    token: i64,
    now: i64,
) -> PersistResult<bool> {
    let n = tx
        .execute(
            "UPDATE codex_session_leases SET expires_at = $6 WHERE tenant = $1 AND actor = $2 \
             AND conversation_id = $3 AND owner = $4 AND token = $5 AND expires_at > $6",
            &params![&scope.tenant, &scope.actor, id, owner, token, now],
        )
        .await?;
    Ok(n == 1)
}
