//! A fresh PostgreSQL database per test on DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres), dropped when the guard goes.

use rand::Rng;

pub struct FreshDb {
    admin: String,
    name: String,
    url: String,
}

impl FreshDb {
    pub async fn new(tag: &str) -> FreshDb {
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("flow_{tag}_{:08x}", rand::rng().random::<u32>());
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL on DATABASE_URL or 127.0.0.1:5432 (scripts/ensure-postgres.sh)");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        FreshDb { admin, name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Best effort, on its own thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
