//! codex-db's SQLite file handling.

use std::os::unix::fs::PermissionsExt;

use codex_db::{sqlite, DbError, Migration};

const V1: Migration = Migration {
    version: 1,
    name: "notes",
    sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
};

#[test]
fn a_new_file_is_private_durable_and_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    let mut conn = sqlite::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let synchronous: i64 = conn
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "FULL");

    sqlite::migrate(&mut conn, "notes", &[V1]).unwrap();
    sqlite::migrate(&mut conn, "notes", &[V1]).unwrap();
    conn.execute("INSERT INTO notes (body) VALUES ('a')", [])
        .unwrap();
    drop(conn);

    // A second opener (another process in real life) sees the same schema and refuses to run
    // an older binary's list against a newer schema.
    let mut again = sqlite::open(&path).unwrap();
    let v2 = Migration {
        version: 2,
        name: "tags",
        sql: "ALTER TABLE notes ADD COLUMN tag TEXT",
    };
    sqlite::migrate(&mut again, "notes", &[V1, v2]).unwrap();
    let err = sqlite::migrate(&mut again, "notes", &[V1]).unwrap_err();
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
    let count: i64 = again
        .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn a_failing_step_rolls_back_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = sqlite::open(&dir.path().join("s.db")).unwrap();
    let broken = Migration {
        version: 2,
        name: "broken",
        sql: "ALTER TABLE missing ADD COLUMN x",
    };
    let err = sqlite::migrate(&mut conn, "notes", &[V1, broken]).unwrap_err();
    assert!(
        matches!(err, DbError::Migration { version: 2, .. }),
        "{err}"
    );
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'notes'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

#[test]
fn an_unopenable_path_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = sqlite::open(&file.join("under-a-file.db")).unwrap_err();
    assert!(matches!(err, DbError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("under-a-file.db") || err.to_string().contains("file"),
        "{err}"
    );
}
