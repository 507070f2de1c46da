//! codex-db on a real PostgreSQL server (see `codex_test_support::postgres`).

use codex_db::{postgres, DbError, Migration};
use codex_test_support::postgres::fresh_database;

const V1: Migration = Migration {
    version: 1,
    name: "notes",
    sql: "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)",
};
const V2: Migration = Migration {
    version: 2,
    name: "note_tags",
    sql: "ALTER TABLE notes ADD COLUMN tag TEXT; CREATE INDEX notes_tag ON notes (tag)",
};

async fn applied(pool: &postgres::PgPool, component: &str) -> Vec<(i64, String)> {
    let client = pool.get().await.unwrap();
    client
        .query(
            "SELECT version, name FROM codex_schema_migrations WHERE component = $1 ORDER BY version",
            &[&component],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_from_many_pools_apply_each_step_once() {
    let db = fresh_database("codex_db_concurrent").await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..8 {
        let url = db.url().to_owned();
        runs.push(tokio::spawn(async move {
            let pool = postgres::connect(&url).await?;
            postgres::migrate(&pool, "notes", &[V1, V2]).await
        }));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let pool = postgres::connect(db.url()).await.unwrap();
    assert_eq!(
        applied(&pool, "notes").await,
        vec![(1, "notes".to_owned()), (2, "note_tags".to_owned())]
    );
    // The schema is really there.
    let client = pool.get().await.unwrap();
    client
        .execute("INSERT INTO notes (body, tag) VALUES ('a', 't')", &[])
        .await
        .unwrap();
    drop(client);
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_failing_step_applies_nothing_and_a_newer_schema_is_refused() {
    let db = fresh_database("codex_db_failing").await.unwrap();
    let pool = postgres::connect(db.url()).await.unwrap();
    let broken = Migration {
        version: 2,
        name: "broken",
        sql: "ALTER TABLE no_such_table ADD COLUMN x INT",
    };
    let err = postgres::migrate(&pool, "notes", &[V1, broken])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DbError::Migration { version: 2, name, .. } if name == "broken"),
        "{err}"
    );
    // V1 was rolled back with the failing V2: nothing recorded, no table.
    let client = pool.get().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'notes'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    drop(client);

    postgres::migrate(&pool, "notes", &[V1, V2]).await.unwrap();
    let err = postgres::migrate(&pool, "notes", &[V1]).await.unwrap_err();
    assert!(
        matches!(
            err,
            DbError::SchemaTooNew {
                found: 2,
                known: 1,
                ..
            }
        ),
        "{err}"
    );
    let renamed = Migration {
        name: "other",
        ..V1
    };
    let err = postgres::migrate(&pool, "notes", &[renamed, V2])
        .await
        .unwrap_err();
    assert!(
        matches!(err, DbError::MigrationMismatch { version: 1, .. }),
        "{err}"
    );
    // Components are independent.
    postgres::migrate(
        &pool,
        "other",
        &[Migration {
            name: "x",
            sql: "CREATE TABLE x (id INT)",
            version: 1,
        }],
    )
    .await
    .unwrap();
    assert_eq!(applied(&pool, "other").await.len(), 1);
    drop(pool);
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let err = postgres::connect("postgres://app:hunter2@127.0.0.1:1/none")
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, DbError::Connect { .. }), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");

    let err = postgres::connect("postgres://app:hunter2@127.0.0.1:5432/x?sslmode=bogus")
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, DbError::InvalidUrl { .. }), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
