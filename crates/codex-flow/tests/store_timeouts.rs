//! The pool settings the flow store relies on so a stuck database cannot stall a worker: a
//! bounded wait for a pooled connection and a server-side statement timeout
//! (`codex_db::postgres::PoolOptions`).

use std::time::{Duration, Instant};

use codex_db::postgres::{connect_with, PoolOptions};
use codex_test_support::postgres::fresh_database;

#[tokio::test]
async fn a_statement_over_the_timeout_is_stopped_by_the_server() {
    let db = fresh_database("flow_stmt_timeout").await.unwrap();
    let options = PoolOptions::default().statement_timeout(Duration::from_millis(200));
    let pool = connect_with(db.url(), options).await.unwrap();
    let client = pool.get().await.unwrap();
    let started = Instant::now();
    let err = client
        .simple_query("SELECT pg_sleep(5)")
        .await
        .expect_err("the sleep must be canceled");
    assert!(
        err.to_string().contains("statement timeout")
            || format!("{err:?}").contains("statement timeout"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Fast statements are unaffected.
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn waiting_for_a_pooled_connection_is_bounded() {
    let db = fresh_database("flow_pool_wait").await.unwrap();
    let options = PoolOptions::default()
        .max_connections(1)
        .wait_timeout(Duration::from_millis(200));
    let pool = connect_with(db.url(), options).await.unwrap();
    let held = pool.get().await.unwrap();
    let started = Instant::now();
    assert!(
        pool.get().await.is_err(),
        "a second connection was handed out"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    let _again = pool.get().await.unwrap();
}
