//! Temporary stand-in for `codex_db` until it lands on main (removed at the merge).
#![allow(dead_code)]

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub mod sqlite {
    use super::Migration;
    use rusqlite::Connection;
    use std::path::Path;

    pub fn open(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )?;
        Ok(conn)
    }

    pub fn migrate(conn: &mut Connection, _c: &str, m: &[Migration]) -> rusqlite::Result<()> {
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for x in m.iter().filter(|x| x.version > v) {
            let tx = conn.transaction()?;
            tx.execute_batch(x.sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", x.version))?;
            tx.commit()?;
        }
        Ok(())
    }
}
