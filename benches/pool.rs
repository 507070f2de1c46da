//! Benchmark: the runtime pool against a direct `Client`, on the real codex and the mock model.
//!
//! - **Warm overhead**: three drivers take turns round-robin (the order rotates every round):
//!   `Session::ask` on a direct `Client`, the same turn on a session of a `RuntimePool` key
//!   whose process runs, and a second direct `Client` as the A/A control (noise floor). `TURNS`
//!   (default 100) turns each after 2 warm-up turns. Target: pool ≤ 1.03× direct (median).
//! - **Cold turns**: `COLD` (default 5) times each: a key whose process was stopped (idle) takes
//!   a turn (process start, handshake, `thread/resume`, the turn), and a new key's first turn
//!   (directories, process start, `thread/start`, the turn); against the warm median.
//! - **Memory**: `IDLE` (default 5) keys each run one turn and go idle; the resident memory
//!   (`VmRSS`) of each key's codex process, and what 50 such processes take.
//!
//! Run: `cargo bench --bench pool` (about a minute after the build). It reports; it never fails
//! the build.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::pool::{PoolConfig, PoolKey, RuntimePool};
use codex_runtime::runtime::{Client, Session};
use codex_test_support::CodexTestEnv;
#[path = "common/measure.rs"]
#[allow(dead_code)]
mod measure;
use measure::{env_usize, stats};
use std::time::{Duration, Instant};

const ANSWER: &str = "pong from the mock model";

fn median(v: &[Duration]) -> f64 {
    stats(v).0
}

async fn timed(session: &Session, prompt: &str) -> Duration {
    let start = Instant::now();
    let out = session.ask(prompt).await.expect("a turn");
    let took = start.elapsed();
    assert_eq!(out.assistant_text, ANSWER);
    took
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let turns = env_usize("TURNS", 100);
    let cold = env_usize("COLD", 5);
    let idle = env_usize("IDLE", 5);
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text(ANSWER)))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let pool = RuntimePool::new(
        PoolConfig::new(env.client_config(), root.path().join("pool"))
            .with_max_processes(idle.max(2) + 2)
            .with_idle_timeout(Duration::from_secs(3600)),
    )
    .unwrap();
    let launcher = pool.config().launcher.is_some();

    // Warm overhead.
    let direct = Client::connect(env.client_config()).await.unwrap();
    let control = Client::connect(env.client_config()).await.unwrap();
    let warm_key = PoolKey::new("warm").unwrap();
    let sessions = [
        direct.start_session(env.session_config()).await.unwrap(),
        pool.open_session(&warm_key, codex_runtime::runtime::SessionConfig::new("."))
            .await
            .unwrap(),
        control.start_session(env.session_config()).await.unwrap(),
    ];
    for s in &sessions {
        for _ in 0..2 {
            timed(s, "warm up").await;
        }
    }
    let mut samples: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..turns {
        for i in 0..3 {
            let d = (i + round) % 3;
            samples[d].push(timed(&sessions[d], "ping").await);
        }
    }
    let names = ["direct Client", "RuntimePool key", "direct Client #2 (A/A)"];
    let direct_pooled: Vec<Duration> = samples[0].iter().chain(&samples[2]).copied().collect();
    let base = median(&direct_pooled);
    println!("warm turns, {turns} per driver (mount-namespace launcher: {launcher}):");
    println!("| driver | median ms | mean ms | vs direct (median) |");
    println!("|---|---|---|---|");
    for (name, s) in names.iter().zip(&samples) {
        let (med, mean) = stats(s);
        println!("| {name} | {med:.2} | {mean:.2} | {:.3}× |", med / base);
    }

    // Cold turns.
    let warm = median(&samples[1]);
    let mut restarted = Vec::new();
    let mut fresh = Vec::new();
    for i in 0..cold {
        assert!(
            pool.stop_idle().await >= 1,
            "the warm key's process stopped"
        );
        restarted.push(timed(&sessions[1], "after a stop").await);
        let key = PoolKey::new(format!("cold-{i}")).unwrap();
        let start = Instant::now();
        let s = pool
            .open_session(&key, codex_runtime::runtime::SessionConfig::new("."))
            .await
            .unwrap();
        s.ask("first").await.unwrap();
        fresh.push(start.elapsed());
        s.close().await.unwrap();
    }
    println!("\ncold turns, {cold} each (warm pool turn: median {warm:.2} ms):");
    println!("| turn | median ms | mean ms | vs warm |");
    println!("|---|---|---|---|");
    for (name, s) in [
        ("stopped key: restart + thread/resume + turn", &restarted),
        ("new key: dirs + start + thread/start + turn", &fresh),
    ] {
        let (med, mean) = stats(s);
        println!("| {name} | {med:.2} | {mean:.2} | {:.1}× |", med / warm);
    }

    // Memory of idle processes.
    pool.stop_idle().await;
    let mut rss = Vec::new();
    for i in 0..idle {
        let key = PoolKey::new(format!("idle-{i}")).unwrap();
        let s = pool
            .open_session(&key, codex_runtime::runtime::SessionConfig::new("."))
            .await
            .unwrap();
        s.ask("hello").await.unwrap();
        rss.push((key, s));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut kib: Vec<u64> = rss
        .iter()
        .filter_map(|(k, _)| pool.pid(k).and_then(vm_rss_kib))
        .collect();
    kib.sort_unstable();
    let med = kib.get(kib.len() / 2).copied().unwrap_or(0);
    let self_kib = vm_rss_kib(std::process::id()).unwrap_or(0);
    println!(
        "\nidle key processes: VmRSS KiB {kib:?}; median {:.1} MiB",
        med as f64 / 1024.0
    );
    println!(
        "50 idle tenants all resident: ~{:.2} GiB of codex processes (+ this process {:.1} MiB); with max_processes = 8, at most ~{:.0} MiB",
        50.0 * med as f64 / 1024.0 / 1024.0,
        self_kib as f64 / 1024.0,
        8.0 * med as f64 / 1024.0
    );
    for s in &sessions {
        let _ = s.close().await;
    }
    pool.shutdown().await;
    let _ = direct.shutdown().await;
    let _ = control.shutdown().await;
}
