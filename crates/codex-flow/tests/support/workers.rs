//! Helpers for worker failure tests: recording events straight into a store, worker processes,
//! finding a step's processes by a marker in their environment, a TCP proxy that can be cut, and
//! a throwaway PostgreSQL cluster that can be stopped and started.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use codex_flow::store::{package_hashes, queued_dispatch};
use codex_flow::{FlowCatalog, FlowEvent, PostgresFlowStore};

use super::{start_codex_flow, Proc};

/// Records `event` (JSON) and its matched runs, as `POST /events` does; answers the run ids.
pub async fn record(
    store: &PostgresFlowStore,
    catalog: &FlowCatalog,
    event: serde_json::Value,
) -> Vec<String> {
    let hashes = package_hashes(catalog).unwrap();
    let event = FlowEvent::from_value(event).unwrap();
    let (record, runs) = queued_dispatch(catalog, &hashes, event, 0);
    let ids = record.run_ids.clone();
    store
        .record_event_with_policies(record, runs)
        .await
        .unwrap();
    ids
}

/// A `codex-flow worker` process and its id.
pub fn worker(store: &str, flows: &Path, ttl_ms: u64, heartbeat_ms: u64) -> (Proc, String) {
    let (proc, line) = start_codex_flow(&[
        "worker",
        "--store",
        store,
        "--flows",
        flows.to_str().unwrap(),
        "--concurrency",
        "4",
        "--lease-ttl-ms",
        &ttl_ms.to_string(),
        "--heartbeat-ms",
        &heartbeat_ms.to_string(),
    ]);
    let id = line
        .strip_prefix("worker ")
        .expect("worker id line")
        .to_string();
    (proc, id)
}

/// Live (non-zombie) processes whose environment has `CODEX_FLOW_EVENT_ID=<prefix>…`.
pub fn marked_processes(event_prefix: &str) -> Vec<i32> {
    let wanted = format!("CODEX_FLOW_EVENT_ID={event_prefix}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|var| var.starts_with(wanted.as_bytes()))
            }) && !super::process_gone(*pid)
        })
        .collect()
}

/// A TCP proxy to `target`; [`Proxy::cut`] blackholes it: bytes stop flowing both ways (the
/// connections stay open, as behind a dead network path) and new connections hang.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let flag = flag.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    if flag.load(Ordering::SeqCst) {
                        // Hold it, answer nothing.
                        let _held = inbound;
                        return std::future::pending::<()>().await;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pump(ri, wo, flag.clone()), pump(ro, wi, flag));
                });
            }
        });
        Proxy { addr, cut, task }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            // Blackholed: keep both ends open, drop everything.
            let _keep = to;
            loop {
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => std::future::pending::<()>().await,
                    Ok(_) => {}
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `url` with its host and port replaced by `addr`.
pub fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    parsed.set_host(Some(&addr.ip().to_string())).unwrap();
    parsed.set_port(Some(addr.port())).unwrap();
    parsed.to_string()
}

/// A throwaway PostgreSQL cluster (initdb + pg_ctl, as the `postgres` user when we are root) on
/// a free port, stopped and deleted on drop. `None` when no PostgreSQL binaries are installed.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Cluster {
    pub fn start() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .find(|b| b.join("initdb").exists())?;
        let dir = tempfile::Builder::new()
            .prefix("codex-flow-pg-")
            .tempdir()
            .unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cluster = Cluster { dir, bin, port };
        if root() {
            let status = Command::new("chown")
                .args(["-R", "postgres", cluster.dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = cluster.data();
        let ok = cluster
            .pg(
                "initdb",
                &["-D", &data, "-U", "postgres", "--auth=trust", "-N"],
            )
            .success();
        assert!(ok, "initdb failed");
        cluster.pg_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg(&self, tool: &str, args: &[&str]) -> std::process::ExitStatus {
        let program = self.bin.join(tool);
        let mut command = if root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn pg_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let ok = self
            .pg(
                "pg_ctl",
                &[
                    "-D",
                    &self.data(),
                    "-o",
                    &options,
                    "-l",
                    &log,
                    "-w",
                    "start",
                ],
            )
            .success();
        assert!(ok, "pg_ctl start failed");
    }

    pub fn pg_stop(&self) {
        let ok = self
            .pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
            .success();
        assert!(ok, "pg_ctl stop failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

fn root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}
