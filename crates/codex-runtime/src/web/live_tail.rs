//! The live tail across instances: PostgreSQL `LISTEN`/`NOTIFY` on one dedicated connection.
//!
//! The instance that runs a session appends its records to the shared store, then sends
//! `NOTIFY codex_web_events, '<tenant>\n<session>\n<seq>'`. Every instance listens; one that
//! follows that session (a browser reconnected to it) reads the new events from the store,
//! after the last one it published, and fans them out to its subscribers. Notifications only
//! say "look"; the events always come from the store, in sequence order, so a lost
//! notification costs latency, never an event: followed sessions are also caught up every
//! [`crate::web::WebConfig::live_tail_catch_up`], and after every reconnect.

use super::adapter::AdapterInner;
use super::web_session::WebSession;
use codex_db::RedactedUrl;
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

/// The notification channel.
pub const CHANNEL: &str = "codex_web_events";
/// Notifications waiting to be sent (more are dropped: the periodic catch-up covers them).
const OUTBOX: usize = 1024;

/// The sending side, held by every hub of a live session.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    outbox: mpsc::Sender<String>,
}

impl Notifier {
    /// Tells the other instances that `session` of `tenant` has events up to `seq`.
    pub fn notify(&self, tenant: &str, session: &str, seq: u64) {
        if let Err(err) = self.outbox.try_send(format!("{tenant}\n{session}\n{seq}")) {
            tracing::debug!("live-tail notification dropped ({err}); followers catch up later");
        }
    }
}

/// The notifier hubs use, and the outbox the listener task (see [`spawn`]) drains.
pub(crate) fn channel() -> (Notifier, Outbox) {
    let (outbox, rx) = mpsc::channel(OUTBOX);
    (Notifier { outbox }, Outbox(rx))
}

/// The receiving side of the notifier, handed to the listener task.
#[derive(Debug)]
pub(crate) struct Outbox(mpsc::Receiver<String>);

/// Starts the listener task for `url`. Call it only once `adapter` can be upgraded (after the
/// adapter's `Arc` is built, never from inside `Arc::new_cyclic`): the task needs the adapter
/// to catch up followed sessions. `shutdown` stops it.
pub(crate) fn spawn(
    url: RedactedUrl,
    adapter: Weak<AdapterInner>,
    outbox: Outbox,
    shutdown: CancellationToken,
) {
    tokio::spawn(run(url, adapter, outbox.0, shutdown));
}

async fn run(
    url: RedactedUrl,
    adapter: Weak<AdapterInner>,
    mut outbox: mpsc::Receiver<String>,
    shutdown: CancellationToken,
) {
    loop {
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = session(&url, &adapter, &mut outbox) => r,
        };
        match result {
            Ok(()) => return,
            Err(err) if adapter.strong_count() == 0 => {
                tracing::debug!("live tail stops with its adapter: {err}");
                return;
            }
            Err(err) => {
                tracing::warn!(url = %url, "live-tail connection lost, reconnecting: {err}");
                // Without a connection, followers still move on: read the store meanwhile.
                catch_up_all(&adapter).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// One connection's life: LISTEN, send queued NOTIFYs, follow notifications.
async fn session(
    url: &RedactedUrl,
    adapter: &Weak<AdapterInner>,
    outbox: &mut mpsc::Receiver<String>,
) -> Result<(), String> {
    // The connection goes through codex-db, so it follows the URL's sslmode like the pools.
    let (client, mut connection) = match codex_db::postgres::connect_one(url.expose()).await {
        Ok(c) => c,
        Err(codex_db::DbError::InvalidUrl { reason, .. }) => {
            tracing::error!(url = %url, "live tail disabled, the URL does not parse: {reason}");
            // Nothing will ever work; wait for shutdown instead of spinning.
            std::future::pending::<()>().await;
            return Ok(());
        }
        Err(err) => return Err(err.to_string()),
    };
    let (seen_tx, mut seen) = mpsc::channel::<String>(OUTBOX);
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx)).boxed();
    let driver = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    // Never wait here: this task also drives the connection the loop below
                    // sends its NOTIFYs on, so blocking on a full queue would deadlock both.
                    // A dropped notification only costs latency (the periodic catch-up).
                    match seen_tx.try_send(n.payload().to_string()) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::debug!("live-tail notification dropped, queue full");
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
                    }
                }
                Ok(_) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    });
    if let Err(err) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        driver.abort();
        return Err(err.to_string());
    }
    tracing::debug!(url = %url, "live tail listening");
    catch_up_all(adapter).await;
    let every = adapter
        .upgrade()
        .map(|a| a.config.live_tail_catch_up)
        .unwrap_or(Duration::from_secs(2));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            payload = outbox.recv() => {
                let Some(payload) = payload else { break Ok(()) };
                if let Err(err) = client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await {
                    break Err(err.to_string());
                }
            }
            payload = seen.recv() => {
                let Some(payload) = payload else {
                    break Err("the LISTEN connection closed".to_string());
                };
                let mut parts = payload.splitn(3, '\n');
                if let (Some(tenant), Some(session), Some(_seq)) = (parts.next(), parts.next(), parts.next()) {
                    if let Some(a) = adapter.upgrade() {
                        catch_up(&a, tenant, session).await;
                    }
                }
            }
            _ = tick.tick() => catch_up_all(adapter).await,
        }
    };
    driver.abort();
    outcome
}

async fn catch_up_all(adapter: &Weak<AdapterInner>) {
    if let Some(a) = adapter.upgrade() {
        catch_up_followed(&a).await;
    }
}

/// Catches up the followed session `session_id` of `tenant` (another instance said it has new
/// events).
async fn catch_up(inner: &Arc<AdapterInner>, tenant: &str, session_id: &str) {
    let Some(tenant) = super::auth::TenantId::new(tenant) else {
        return;
    };
    let key = super::store::SessionKey {
        tenant,
        session_id: session_id.to_string(),
    };
    let web = inner
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .filter(|w| w.session.is_none())
        .cloned();
    if let Some(web) = web {
        if let Err(err) = web.hub.catch_up().await {
            tracing::warn!(session = %session_id, "cannot catch up a followed session: {err}");
        }
    }
}

/// Catches up every followed session someone watches, and ends the streams of those closed
/// on their instance.
async fn catch_up_followed(inner: &Arc<AdapterInner>) {
    let followed: Vec<Arc<WebSession>> = inner
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter(|w| w.session.is_none() && w.hub.has_subscribers())
        .cloned()
        .collect();
    for web in followed {
        if let Err(err) = web.hub.catch_up().await {
            tracing::warn!(session = %web.key.session_id, "cannot catch up a followed session: {err}");
            continue;
        }
        let (Some(store), Ok(scope)) = (&inner.config.store, web.key.scope()) else {
            continue;
        };
        if let Ok(Some(c)) = store.conversation(&scope, &web.key.session_id).await {
            if c.archived && !web.closed.swap(true, Ordering::SeqCst) {
                web.hub.closed().cancel();
            }
        }
    }
}
