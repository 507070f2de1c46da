//! Benchmark: a flood of `item/agentMessage/delta` notifications, read the way a user writes it,
//! with the SDK's DEFAULT configuration, against a bare `serde_json::Value` loop placed the same
//! way, in the same run.
//!
//! - Producer: the fake app-server, a separate PROCESS, writes 1,000,000 identical-shape delta
//!   lines through a 64 KiB `BufWriter` when asked with `fake/flood`.
//! - SDK variants (all `RuntimeConfig::new()`, only the binary points at the fake):
//!   `Runtime::subscribe()` or `Runtime::subscribe_thread(..)`, consumed by
//!   `while .. sub.recv().await` either in the `#[tokio::main]` future itself or in a
//!   `tokio::spawn`ed task; plus one `recv_many` variant.
//! - Baselines: tokio `BufReader::read_line` + `serde_json::from_str::<Value>`, in the main
//!   future or in a spawned task (each SDK variant is compared with the baseline placed the
//!   same way).
//! - Every flood runs in a fresh child process (this binary re-executed with `--child`), so the
//!   peak RSS (`VmHWM`) of one run is not hidden by memory another kept. Rounds rotate the order.
//! - Memory: a consumer paced at 1/10 of the producer's rate, for 250k and for 1M events: it must
//!   get `Lagged(n)` with memory flat (the same for both sizes) and bounded by the byte budget
//!   (3 floods per size, alternating; medians compared).
//!
//! Run: `cargo bench --bench notification_flood` (`FLOOD_COUNT=N`, `ROUNDS=N` change the
//! sizes; with `FLOOD_THREADS=1` a child prints its threads' CPU ticks, with `FLOOD_METRICS=1`
//! an SDK child prints the runtime's metrics, e.g. `consumer_reads`, to stderr). It reports PASS/FAIL lines; it never fails the build.

use codex_runtime::rpc::{RecvError, Subscription, DEFAULT_QUEUE_BUDGET_BYTES};
use codex_runtime::runtime::{Runtime, RuntimeConfig, ServerNotification};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The scripted fake app-server built from `tests/fake_app_server/server.rs`.
const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");
const THREAD_ID: &str = "thr_bench";
const TURN_ID: &str = "turn_bench";
/// Each variant must reach this fraction of its baseline's rate.
const TARGET_RATIO: f64 = 0.9;
/// Peak RSS of an SDK run must stay within this multiple of its baseline's.
const TARGET_RSS: f64 = 1.5;
/// How much slower than the producer the slow consumer is.
const SLOWDOWN: f64 = 10.0;
/// Floods per size for the slow consumer (medians are compared).
const SLOW_RUNS: usize = 3;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Where the consumer runs and what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    BareMain,
    BareSpawned,
    SdkMainGlobal,
    SdkSpawnedGlobal,
    SdkMainThread,
    SdkSpawnedThread,
    SdkMainGlobalMany,
}

const VARIANTS: [Variant; 7] = [
    Variant::BareMain,
    Variant::BareSpawned,
    Variant::SdkMainGlobal,
    Variant::SdkSpawnedGlobal,
    Variant::SdkMainThread,
    Variant::SdkSpawnedThread,
    Variant::SdkMainGlobalMany,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::BareMain => "bare-main",
            Variant::BareSpawned => "bare-spawned",
            Variant::SdkMainGlobal => "sdk-main-global",
            Variant::SdkSpawnedGlobal => "sdk-spawned-global",
            Variant::SdkMainThread => "sdk-main-thread",
            Variant::SdkSpawnedThread => "sdk-spawned-thread",
            Variant::SdkMainGlobalMany => "sdk-main-global-recv_many",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Variant::BareMain => "bare read_line + from_str::<Value>, loop in the main future",
            Variant::BareSpawned => "bare read_line + from_str::<Value>, loop in a spawned task",
            Variant::SdkMainGlobal => "Runtime::subscribe(), recv() loop in the main future",
            Variant::SdkSpawnedGlobal => "Runtime::subscribe(), recv() loop in a spawned task",
            Variant::SdkMainThread => "Runtime::subscribe_thread(), recv() loop in the main future",
            Variant::SdkSpawnedThread => {
                "Runtime::subscribe_thread(), recv() loop in a spawned task"
            }
            Variant::SdkMainGlobalMany => {
                "Runtime::subscribe(), recv_many(256) loop in the main future"
            }
        }
    }

    fn from_name(name: &str) -> Option<Variant> {
        VARIANTS.into_iter().find(|v| v.name() == name)
    }

    /// The baseline placed the same way.
    fn baseline(self) -> Variant {
        match self {
            Variant::SdkSpawnedGlobal | Variant::SdkSpawnedThread | Variant::BareSpawned => {
                Variant::BareSpawned
            }
            _ => Variant::BareMain,
        }
    }
}

/// One flood, as measured in a child process.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    secs: f64,
    received: u64,
    lagged: u64,
    /// `VmHWM` of the child: its peak resident set over its whole life.
    hwm_kib: u64,
    /// `VmRSS` once connected, before the flood.
    start_kib: u64,
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------------------------

fn default_config() -> RuntimeConfig {
    // Defaults, except the binary (the fake) and a request timeout long enough for a flood.
    RuntimeConfig::new()
        .with_cli_bin(FAKE)
        .with_request_timeout(Duration::from_secs(600))
}

/// Starts the flood from a task (so the consumer can run where the variant puts it).
fn start_flood(rt: &Arc<Runtime>, count: u64) -> tokio::task::JoinHandle<()> {
    let rt = Arc::clone(rt);
    tokio::spawn(async move {
        let reply = rt
            .call(
                "fake/flood",
                json!({"count": count, "threadId": THREAD_ID, "turnId": TURN_ID}),
            )
            .await
            .expect("fake/flood");
        assert_eq!(reply["sent"].as_u64(), Some(count), "{reply}");
    })
}

/// The user's loop: count deltas (reading their text) until `count` are received or lagged.
/// `per_sec` paces the consumer (the slow-consumer memory test).
async fn consume(mut sub: Subscription, count: u64, per_sec: Option<f64>) -> (u64, u64, Instant) {
    let (mut received, mut lagged, mut text) = (0u64, 0u64, 0usize);
    let start = Instant::now();
    while received + lagged < count {
        match sub.recv().await {
            Ok(ev) => {
                if let ServerNotification::ItemAgentMessageDelta(n) = ev.notification() {
                    text += n.delta.len();
                }
                received += 1;
                if let Some(rate) = per_sec {
                    let due = start + Duration::from_secs_f64(received as f64 / rate);
                    if due > Instant::now() + Duration::from_millis(1) {
                        tokio::time::sleep_until(due.into()).await;
                    }
                }
            }
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(e) => panic!("subscription ended early: {e}"),
        }
    }
    assert!(received == 0 || text > 0);
    (received, lagged, Instant::now())
}

/// Same loop with `recv_many`.
async fn consume_many(mut sub: Subscription, count: u64) -> (u64, u64, Instant) {
    let (mut received, mut lagged, mut text) = (0u64, 0u64, 0usize);
    let mut batch = Vec::with_capacity(256);
    while received + lagged < count {
        match sub.recv_many(&mut batch, 256).await {
            Ok(_) => {
                for ev in batch.drain(..) {
                    if let ServerNotification::ItemAgentMessageDelta(n) = ev.notification() {
                        text += n.delta.len();
                    }
                    received += 1;
                }
            }
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(e) => panic!("subscription ended early: {e}"),
        }
    }
    assert!(received == 0 || text > 0);
    (received, lagged, Instant::now())
}

async fn sdk_child(variant: Variant, count: u64, per_sec: Option<f64>) -> Run {
    let rt = Arc::new(
        Runtime::connect(default_config())
            .await
            .expect("connect to the fake"),
    );
    let sub = match variant {
        Variant::SdkMainThread | Variant::SdkSpawnedThread => rt.subscribe_thread(THREAD_ID),
        _ => rt.subscribe(),
    };
    let start_kib = status_kib("VmRSS:");
    let start = Instant::now();
    let flood = start_flood(&rt, count);
    let (received, lagged, end) = match variant {
        Variant::SdkSpawnedGlobal | Variant::SdkSpawnedThread => {
            tokio::spawn(consume(sub, count, per_sec))
                .await
                .expect("consumer task")
        }
        Variant::SdkMainGlobalMany => consume_many(sub, count).await,
        _ => consume(sub, count, per_sec).await,
    };
    flood.await.expect("flood task");
    if std::env::var("FLOOD_METRICS").is_ok_and(|v| v == "1") {
        eprintln!("{:?}", rt.metrics());
    }
    let run = Run {
        secs: end.duration_since(start).as_secs_f64(),
        received,
        lagged,
        hwm_kib: status_kib("VmHWM:"),
        start_kib,
    };
    rt.shutdown().await.expect("shutdown");
    run
}

/// The bare loop: read every line with `read_line`, parse it into a `Value`.
async fn bare_loop(
    mut stdout: BufReader<tokio::process::ChildStdout>,
    count: u64,
) -> (u64, Instant) {
    let mut line = String::new();
    let mut deltas = 0u64;
    loop {
        line.clear();
        let n = stdout.read_line(&mut line).await.expect("read");
        assert!(n > 0, "the fake closed its stdout");
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        if v.get("id").is_some() {
            assert_eq!(v["result"]["sent"].as_u64(), Some(count), "{v}");
            return (deltas, Instant::now());
        }
        if v["method"] == "item/agentMessage/delta" && v["params"]["delta"].is_string() {
            deltas += 1;
        }
    }
}

async fn bare_child(variant: Variant, count: u64) -> Run {
    let mut child = tokio::process::Command::new(FAKE)
        .arg("app-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the fake");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut write = async |v: Value| {
        let mut bytes = serde_json::to_vec(&v).expect("encode");
        bytes.push(b'\n');
        stdin.write_all(&bytes).await.expect("write");
        stdin.flush().await.expect("flush");
    };
    write(json!({"id": 0, "method": "initialize", "params": {
        "clientInfo": {"name": "bare", "version": "0"}, "capabilities": {}}}))
    .await;
    let mut line = String::new();
    stdout.read_line(&mut line).await.expect("initialize reply");
    write(json!({"method": "initialized", "params": {}})).await;
    let start_kib = status_kib("VmRSS:");
    let start = Instant::now();
    write(json!({"id": 1, "method": "fake/flood",
        "params": {"count": count, "threadId": THREAD_ID, "turnId": TURN_ID}}))
    .await;
    let (received, end) = match variant {
        Variant::BareSpawned => tokio::spawn(bare_loop(stdout, count))
            .await
            .expect("bare task"),
        _ => bare_loop(stdout, count).await,
    };
    drop(stdin);
    let _ = child.wait().await;
    Run {
        secs: end.duration_since(start).as_secs_f64(),
        received,
        lagged: 0,
        hwm_kib: status_kib("VmHWM:"),
        start_kib,
    }
}

/// CPU time per thread of this process (`utime+stime` ticks from `/proc/self/task/*/stat`),
/// for diagnosing where a flood's CPU goes (`FLOOD_THREADS=1`).
fn thread_cpu() -> String {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let Some((name, rest)) = stat.split_once(") ") else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let name = name.rsplit('(').next().unwrap_or("");
            // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the name.
            out.push(format!("{name}:{}", ticks(11) + ticks(12)));
        }
    }
    format!("THREADS {}", out.join(" "))
}

// ---------------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------------

/// Runs one flood in a fresh child process.
fn run_child(mode: &str, count: u64) -> Run {
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .args(["--child", mode])
        .env("FLOOD_COUNT", count.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RUN "))
        .unwrap_or_else(|| panic!("child {mode} printed no result ({}): {stdout}", out.status));
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Run {
        secs: f.first().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
        received: num(1),
        lagged: num(2),
        hwm_kib: num(3),
        start_kib: num(4),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = env_u64("FLOOD_COUNT", 1_000_000);
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let mode = args.get(pos + 1).map(String::as_str).unwrap_or("");
        let run = if let Some(rate) = mode.strip_prefix("slow:") {
            let per_sec: f64 = rate.parse().expect("a rate");
            sdk_child(Variant::SdkMainGlobal, count, Some(per_sec)).await
        } else {
            let variant = Variant::from_name(mode).expect("a variant name");
            match variant {
                Variant::BareMain | Variant::BareSpawned => bare_child(variant, count).await,
                _ => sdk_child(variant, count, None).await,
            }
        };
        println!(
            "RUN {:.6} {} {} {} {}",
            run.secs, run.received, run.lagged, run.hwm_kib, run.start_kib
        );
        if std::env::var("FLOOD_THREADS").is_ok_and(|v| v == "1") {
            println!("{}", thread_cpu());
        }
        return;
    }

    let rounds = env_u64("ROUNDS", 5) as usize;
    println!("notification_flood: {count} item/agentMessage/delta notifications per flood, {rounds} rounds");
    println!("producer: {FAKE} (separate process, 64 KiB BufWriter)");
    println!(
        "SDK config: RuntimeConfig::new() defaults (queue budget {} MiB per subscriber)",
        DEFAULT_QUEUE_BUDGET_BYTES >> 20
    );
    println!("load average at start: {}", loadavg());
    println!();

    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..rounds {
        // Rotate the order so load hits every variant alike.
        for k in 0..VARIANTS.len() {
            let i = (round + k) % VARIANTS.len();
            let v = VARIANTS[i];
            let r = run_child(v.name(), count);
            println!(
                "round {}: {:<26} {:>10.0}/s  received {:>8}  lagged {:>7}  peak RSS {:>5.1} MiB",
                round + 1,
                v.name(),
                count as f64 / r.secs,
                r.received,
                r.lagged,
                mib(r.hwm_kib as f64)
            );
            runs[i].push(r);
        }
    }
    println!("load average at end of throughput rounds: {}", loadavg());
    println!();

    let rate = |i: usize| {
        median(
            &runs[i]
                .iter()
                .map(|r| count as f64 / r.secs)
                .collect::<Vec<_>>(),
        )
    };
    let rss = |i: usize| median(&runs[i].iter().map(|r| r.hwm_kib as f64).collect::<Vec<_>>());
    let index = |v: Variant| VARIANTS.iter().position(|x| *x == v).unwrap_or(0);
    println!("## throughput (median of {rounds} floods of {count}; fresh process per flood)");
    println!(
        "| variant | received/s (median) | vs baseline | lost (sum of {rounds} floods) | floods with 0 lost | peak RSS (median VmHWM) | RSS vs baseline |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut all_ok = true;
    for (i, v) in VARIANTS.iter().enumerate() {
        let b = index(v.baseline());
        let ratio = rate(i) / rate(b);
        let lost: u64 = runs[i]
            .iter()
            .map(|r| r.lagged + (count - r.received - r.lagged))
            .sum();
        let clean = runs[i]
            .iter()
            .filter(|r| r.lagged == 0 && r.received == count)
            .count();
        let rss_ratio = rss(i) / rss(b);
        println!(
            "| {} ({}) | {:.0} | {:.2}× | {} | {}/{} | {:.1} MiB | {:.2}× |",
            v.name(),
            v.describe(),
            rate(i),
            ratio,
            lost,
            clean,
            runs[i].len(),
            mib(rss(i)),
            rss_ratio
        );
        if !matches!(v, Variant::BareMain | Variant::BareSpawned) {
            all_ok &= ratio >= TARGET_RATIO && clean == runs[i].len() && rss_ratio <= TARGET_RSS;
            println!(
                "  {}: rate {:.2}× (target ≥ {TARGET_RATIO}), {}/{} floods without loss, peak RSS {:.2}× (target ≤ {TARGET_RSS})",
                verdict(ratio >= TARGET_RATIO && clean == runs[i].len() && rss_ratio <= TARGET_RSS),
                ratio,
                clean,
                runs[i].len(),
                rss_ratio
            );
        }
    }
    println!("{}: all throughput, loss and RSS targets", verdict(all_ok));
    println!();

    // Memory with a consumer 10x slower than the producer.
    let producer = rate(index(Variant::BareMain)).max(rate(index(Variant::SdkMainGlobal)));
    let slow = producer / SLOWDOWN;
    let quarter = (count / 4).max(1);
    println!(
        "## slow consumer (paced at {slow:.0}/s = 1/{SLOWDOWN} of {producer:.0}/s; Runtime::subscribe(), main future, defaults)"
    );
    println!("| events | RSS before flood | peak RSS | growth | received | lagged |");
    println!("|---|---|---|---|---|---|");
    // Each size runs SLOW_RUNS times, alternating, and the medians are compared: one flood's
    // growth moves by several MiB with the allocator's per-thread arenas.
    let (mut small, mut large) = (Vec::new(), Vec::new());
    let mut every_run_lagged = true;
    for _ in 0..SLOW_RUNS {
        for n in [quarter, count] {
            let r = run_child(&format!("slow:{slow:.0}"), n);
            let g = mib(r.hwm_kib.saturating_sub(r.start_kib) as f64);
            println!(
                "| {n} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | {} |",
                mib(r.start_kib as f64),
                mib(r.hwm_kib as f64),
                g,
                r.received,
                r.lagged
            );
            assert_eq!(
                r.received + r.lagged,
                n,
                "every event received or counted as lagged"
            );
            every_run_lagged &= r.lagged > 0;
            if n == quarter { &mut small } else { &mut large }.push(g);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (small, large) = (median(&mut small), median(&mut large));
    let budget_mib = (DEFAULT_QUEUE_BUDGET_BYTES >> 20) as f64;
    let flat = large <= small * 1.25 + 4.0;
    let bounded = large <= budget_mib * 1.25 + 8.0;
    println!(
        "{}: slow consumer gets Lagged in every run, memory flat (median growth {small:.1} vs {large:.1} MiB for 4x the events) and bounded by the {budget_mib:.0} MiB budget",
        verdict(flat && bounded && every_run_lagged),
    );
    println!("load average at end: {}", loadavg());
}
