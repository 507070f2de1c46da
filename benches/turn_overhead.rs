//! Benchmark: the SDK's overhead on one full turn, and the cold `quick_run` time.
//!
//! Same mock model, same real codex (the pinned 0.169.0), same run:
//! - **Warm turns**: four drivers, each on its own `codex app-server` and thread, take turns
//!   round-robin (the order rotates every round): `Session::ask` (layer 3), the same turn on
//!   the layer-6 `Runtime` (subscribe + raw `turn/start` call), and two bare drivers (raw
//!   JSON-RPC lines over stdio, a `serde_json::Value` per line, done at `turn/completed`); the
//!   second bare driver is an A/A control that shows the noise floor. `TURNS` (default 100)
//!   turns per driver are split into `BLOCKS` (default 5) blocks, each with fresh processes, so
//!   one fast or slow codex process cannot bias a side. All drivers send byte-identical
//!   `thread/start` / `turn/start` params (built from the same protocol types and profile
//!   defaults; the bare drivers also send the SDK's `initialize`). Reported per driver: median/mean wall time, overhead vs the pooled bare
//!   drivers, the time until `turn/completed` reaches the client and what remains of the call
//!   after it, and this process's CPU per turn (`CLOCK_PROCESS_CPUTIME_ID`; the mock model runs
//!   in-process, so differences between drivers are client-side CPU). Target: overhead ≤ 3 %.
//! - **Request round trip**: 2,000 `fake/echo` calls per side on this package's fake
//!   app-server, `Runtime::call` against an inline write + read: the SDK's per-request cost
//!   without codex's latency.
//! - **Cold runs**: [`COLD_RUNS`] × `codex_runtime::quick_run(cwd, prompt)` (spawn, handshake,
//!   thread, turn, archive, shutdown), each in a fresh process of this binary (re-executed with
//!   `--quick-run-child`, `CODEX_BIN` / `CODEX_HOME` / `OPENAI_API_KEY` set from the test env),
//!   alternating with bare cold runs (spawn, handshake, `thread/start`, one turn until its text,
//!   then `thread/archive` and stdin closed until the child exits).
//!
//! - **Client memory during turns** (first, see `turn_overhead/rss.rs`): peak RSS of a fresh
//!   process running 20 turns through `Session::ask` with defaults, against one running the
//!   same turns with the bare driver. Target: SDK ≤ 1.2 × bare. `RSS_ONLY=1` stops after it.
//!
//! Run: `cargo bench --bench turn_overhead`. The benchmark reports; it never fails the build.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::runtime::{
    ApprovalMode, Client, Effort, Runtime, Sandbox, ServerNotification, TextUserInput, ThreadItem,
    ThreadStartParams, TurnStartParams, UserInput,
};
use codex_test_support::{CodexTestEnv, CODEX_BIN_ENV};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

#[path = "common/measure.rs"]
mod measure;
#[path = "turn_overhead/rss.rs"]
mod rss;
use measure::{env_usize, ms, process_cpu_time, stats};

/// Measured warm turns per side (override with `TURNS`).
const DEFAULT_TURNS: usize = 100;
/// Blocks the warm turns are split into, each with fresh processes (override with `BLOCKS`).
const DEFAULT_BLOCKS: usize = 5;
/// Unmeasured warm-up turns per side.
const WARMUP_TURNS: usize = 2;
/// Cold runs per side.
const COLD_RUNS: usize = 5;
/// Target: SDK per-turn overhead at most this fraction of the bare turn.
const TARGET_OVERHEAD: f64 = 0.03;
/// What the mock answers every turn.
const ANSWER: &str = "pong from the mock model";
/// Upper bound of one bare turn (a hang fails loudly instead of blocking forever).
const TURN_LIMIT: Duration = Duration::from_secs(120);

/// `thread/start` params exactly as `Session` sends them with the default profile.
fn thread_start_params(cwd: &str) -> Value {
    let params = ThreadStartParams {
        cwd: Some(cwd.to_string()),
        approval_policy: Some(ApprovalMode::Never.to_protocol()),
        sandbox: Some(Sandbox::ReadOnly.to_mode()),
        ..ThreadStartParams::default()
    };
    serde_json::to_value(params).expect("encode thread/start")
}

/// `turn/start` params exactly as `Session::ask` sends them with the default profile.
fn turn_start_params(thread_id: &str, cwd: &str, prompt: &str) -> Value {
    let params = TurnStartParams {
        thread_id: thread_id.to_string(),
        input: vec![UserInput::Text(TextUserInput {
            text: prompt.to_string(),
            ..Default::default()
        })],
        effort: Some(Effort::Medium.as_str().to_string()),
        approval_policy: Some(ApprovalMode::Never.to_protocol()),
        sandbox_policy: Some(Sandbox::ReadOnly.to_policy()),
        cwd: Some(cwd.to_string()),
        ..TurnStartParams::default()
    };
    serde_json::to_value(params).expect("encode turn/start")
}

/// A bare JSON-RPC driver over `codex app-server`'s stdio: no SDK, a `Value` per line.
struct Bare {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: Vec<u8>,
    next_id: i64,
    /// `Some`: also decode every line into the generated protocol types, as the SDK does (the
    /// "bare + typed" memory row); holds the method of each request awaiting its reply.
    typed: Option<Vec<(i64, &'static str)>>,
}

/// The envelope of one line, borrowed (only for the typed decode of the "bare + typed" driver).
#[derive(serde::Deserialize)]
struct WireLine<'a> {
    #[serde(default, borrow)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a str>,
    #[serde(default, borrow)]
    params: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a serde_json::value::RawValue>,
}

/// Decodes one line into the generated protocol types the way the SDK's reader and typed calls
/// do (`ServerNotification::decode`, `ServerRequest::decode`, `from_str` of the response type),
/// and panics when a line does not fit: the typed row must decode what the SDK decodes.
fn decode_typed(line: &[u8], pending: &mut Vec<(i64, &'static str)>) {
    use codex_runtime::runtime::{
        InitializeResponse, ServerRequest, ThreadArchiveResponse, ThreadStartResponse,
        TurnStartResponse,
    };
    let wire: WireLine<'_> = serde_json::from_slice(line).expect("a JSON-RPC line");
    let empty = serde_json::value::RawValue::from_string("{}".to_owned()).expect("{}");
    let params = wire.params.unwrap_or(&empty);
    match (wire.method, wire.id) {
        (Some(method), None) => {
            let n = ServerNotification::decode(method, params).expect("a typed notification");
            std::hint::black_box(n);
        }
        (Some(method), Some(_)) => {
            let r = ServerRequest::decode(method, params).expect("a typed server request");
            std::hint::black_box(r);
        }
        (None, Some(id)) => {
            let id: i64 = id.get().parse().expect("an integer id");
            let Some(at) = pending.iter().position(|(p, _)| *p == id) else {
                return;
            };
            let (_, method) = pending.swap_remove(at);
            let Some(result) = wire.result else { return };
            let text = result.get();
            fn decode<T: serde::de::DeserializeOwned>(text: &str, method: &str) {
                let typed: T =
                    serde_json::from_str(text).unwrap_or_else(|e| panic!("{method}: {e}"));
                std::hint::black_box(typed);
            }
            match method {
                "initialize" => decode::<InitializeResponse>(text, method),
                "thread/start" => decode::<ThreadStartResponse>(text, method),
                "turn/start" => decode::<TurnStartResponse>(text, method),
                "thread/archive" => decode::<ThreadArchiveResponse>(text, method),
                _ => {}
            }
        }
        (None, None) => panic!("a line with neither method nor id"),
    }
}

impl Bare {
    /// Spawns the env's `codex app-server` and completes the handshake.
    async fn connect(env: &CodexTestEnv) -> Bare {
        Bare::from_command(env.app_server_command()).await
    }

    /// Spawns `command` (a `codex app-server` with piped stdio) and completes the handshake.
    async fn from_command(command: tokio::process::Command) -> Bare {
        Bare::from_command_decoding(command, false).await
    }

    /// [`Bare::from_command`]; with `typed`, every line is also decoded into the generated
    /// protocol types ([`decode_typed`]).
    async fn from_command_decoding(mut command: tokio::process::Command, typed: bool) -> Bare {
        let mut child = command.spawn().expect("spawn codex");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::with_capacity(64 * 1024, child.stdout.take().expect("stdout"));
        let mut bare = Bare {
            child,
            stdin,
            stdout,
            line: Vec::with_capacity(4096),
            next_id: 0,
            typed: typed.then(Vec::new),
        };
        // The same `initialize` the SDK sends (its default client name, title and version).
        let sdk = codex_runtime::runtime::RuntimeConfig::new();
        let mut client_info = json!({"name": sdk.client_name, "version": sdk.client_version});
        if let Some(title) = &sdk.client_title {
            client_info["title"] = json!(title);
        }
        let init = bare
            .request(
                "initialize",
                json!({"clientInfo": client_info, "capabilities": {}}),
            )
            .await;
        assert!(init["userAgent"].is_string(), "{init}");
        bare.write(&json!({"method": "initialized", "params": {}}))
            .await;
        bare
    }

    async fn write(&mut self, v: &Value) {
        let mut bytes = serde_json::to_vec(v).expect("encode");
        bytes.push(b'\n');
        self.stdin.write_all(&bytes).await.expect("write to codex");
        self.stdin.flush().await.expect("flush to codex");
    }

    /// The next line as a `Value`.
    async fn read(&mut self) -> Value {
        self.line.clear();
        let n = tokio::time::timeout(TURN_LIMIT, self.stdout.read_until(b'\n', &mut self.line))
            .await
            .expect("codex went silent")
            .expect("read from codex");
        assert!(n > 0, "codex closed its stdout");
        if let Some(pending) = &mut self.typed {
            decode_typed(&self.line, pending);
        }
        serde_json::from_slice(&self.line).expect("a JSON line from codex")
    }

    /// Answers a server request (none is expected with approval `never`) so the turn goes on.
    async fn decline(&mut self, msg: &Value) {
        let id = msg["id"].clone();
        self.write(
            &json!({"id": id, "error": {"code": -32600, "message": "bare driver declines"}}),
        )
        .await;
    }

    /// Sends a request and reads until its reply (notifications in between are skipped).
    async fn request(&mut self, method: &'static str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(pending) = &mut self.typed {
            pending.push((id, method));
        }
        self.write(&json!({"id": id, "method": method, "params": params}))
            .await;
        loop {
            let msg = self.read().await;
            if msg.get("method").is_some() {
                if msg.get("id").is_some() {
                    self.decline(&msg).await;
                }
                continue;
            }
            if msg["id"] == json!(id) {
                if let Some(err) = msg.get("error") {
                    panic!("{method} failed: {err}");
                }
                return msg["result"].clone();
            }
        }
    }

    /// `thread/start`; returns the thread id.
    async fn start_thread(&mut self, cwd: &str) -> String {
        let r = self.request("thread/start", thread_start_params(cwd)).await;
        r["thread"]["id"].as_str().expect("thread id").to_string()
    }

    /// One turn: writes `turn/start`, reads until `turn/completed`; returns the last agent
    /// message text.
    async fn turn(&mut self, thread_id: &str, cwd: &str, prompt: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(pending) = &mut self.typed {
            pending.push((id, "turn/start"));
        }
        self.write(&json!({"id": id, "method": "turn/start",
            "params": turn_start_params(thread_id, cwd, prompt)}))
            .await;
        let mut text = String::new();
        loop {
            let msg = self.read().await;
            match (msg.get("method").and_then(Value::as_str), msg.get("id")) {
                (Some(_), Some(_)) => self.decline(&msg).await,
                (Some("item/completed"), None) => {
                    let item = &msg["params"]["item"];
                    if item["type"] == "agentMessage" && msg["params"]["threadId"] == thread_id {
                        text = item["text"].as_str().unwrap_or_default().to_string();
                    }
                }
                (Some("turn/completed"), None) if msg["params"]["threadId"] == thread_id => {
                    let status = &msg["params"]["turn"]["status"];
                    assert_eq!(status, "completed", "bare turn: {msg}");
                    return text;
                }
                (None, Some(_)) => {
                    if let Some(err) = msg.get("error") {
                        panic!("turn/start failed: {err}");
                    }
                }
                _ => {}
            }
        }
    }

    /// Archives the thread, closes stdin and waits for codex to exit.
    async fn close(mut self, thread_id: &str) {
        self.request("thread/archive", json!({"threadId": thread_id}))
            .await;
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The same turn on the layer-6 [`Runtime`]: subscribe to the thread, `turn/start` as a raw
/// call, read events until `turn/completed`. Splits the SDK's cost between the JSON-RPC core
/// (this) and the `Session` layer on top.
async fn raw_turn(rt: &Runtime, thread_id: &str, cwd: &str, prompt: &str) -> (String, Instant) {
    let mut sub = rt.subscribe_thread(thread_id);
    rt.call("turn/start", turn_start_params(thread_id, cwd, prompt))
        .await
        .expect("turn/start");
    let mut text = String::new();
    loop {
        let ev = tokio::time::timeout(TURN_LIMIT, sub.recv())
            .await
            .expect("codex went silent")
            .expect("subscription");
        match ev.notification() {
            ServerNotification::ItemCompleted(n) => {
                if let ThreadItem::AgentMessage(m) = &n.item {
                    text = m.text.clone();
                }
            }
            ServerNotification::TurnCompleted(_) => return (text, Instant::now()),
            _ => {}
        }
    }
}

/// Median of `a[i] - b[i]` in milliseconds (negative when `a` is faster).
fn paired_median_diff(a: &[Duration], b: &[Duration]) -> f64 {
    let mut d: Vec<f64> = a.iter().zip(b).map(|(x, y)| ms(*x) - ms(*y)).collect();
    d.sort_by(|x, y| x.total_cmp(y));
    match d.len() {
        0 => 0.0,
        n if n % 2 == 1 => d[n / 2],
        n => (d[n / 2 - 1] + d[n / 2]) / 2.0,
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Child mode: one timed `quick_run` (the env comes from the parent). Prints
/// `QR <seconds> <text>`.
async fn quick_run_child(cwd: &str) {
    let start = Instant::now();
    let out = codex_runtime::quick_run(cwd, "cold ping")
        .await
        .expect("quick_run");
    let elapsed = start.elapsed();
    println!("QR {:.6} {}", elapsed.as_secs_f64(), out.assistant_text);
}

/// Runs one cold `quick_run` in a fresh process of this binary.
async fn run_quick_run_child(env: &CodexTestEnv) -> Duration {
    let exe = std::env::current_exe().expect("current exe");
    let out = tokio::process::Command::new(exe)
        .args(["--quick-run-child", &absolute(env.workdir())])
        .envs(env.env_vars())
        .env(CODEX_BIN_ENV, &env.bin)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the quick_run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("QR "))
        .unwrap_or_else(|| {
            panic!(
                "quick_run child printed no result (status {}): {stdout}",
                out.status
            )
        });
    let (secs, text) = line.split_once(' ').unwrap_or((line, ""));
    assert_eq!(text, ANSWER, "quick_run returned the mock's text");
    Duration::from_secs_f64(secs.parse().expect("seconds"))
}

/// One bare cold run: returns (spawn to text, spawn to exit).
async fn bare_cold(env: &CodexTestEnv, cwd: &str) -> (Duration, Duration) {
    let start = Instant::now();
    let mut bare = Bare::connect(env).await;
    let thread = bare.start_thread(cwd).await;
    let text = bare.turn(&thread, cwd, "cold ping").await;
    let to_text = start.elapsed();
    assert_eq!(text, ANSWER);
    bare.close(&thread).await;
    (to_text, start.elapsed())
}

const SDK: usize = 0;
const RAW: usize = 1;
const BARE: usize = 2;
const CONTROL: usize = 3;
const NAMES: [&str; 4] = [
    "Session::ask",
    "Runtime (layer 6)",
    "bare JSON-RPC driver",
    "bare #2 (A/A control)",
];

/// Per-side samples of the warm-turn comparison.
#[derive(Default)]
struct Samples {
    wall: [Vec<Duration>; 4],
    /// From the start of the turn to `turn/completed` reaching the client (for the SDK: a
    /// second subscriber on the same runtime timestamps it as the router delivers it).
    to_completed: [Vec<Duration>; 4],
    cpu: [Duration; 4],
    sdk_messages_in: u64,
    sdk_lag_drops: u64,
    sdk_decode_fallbacks: u64,
}

/// One block: a fresh codex per side (so a fast or slow process cannot bias a side for the
/// whole run), [`WARMUP_TURNS`] unmeasured turns, then `turns` measured turns per side with
/// the order rotated every round.
async fn warm_block(env: &CodexTestEnv, cwd: &str, turns: usize, samples: &mut Samples) {
    let client = Client::connect(env.client_config())
        .await
        .expect("Client::connect");
    let session = client
        .start_session(env.session_config())
        .await
        .expect("start_session");
    let raw = Runtime::connect(env.runtime_config())
        .await
        .expect("Runtime::connect");
    let raw_thread = raw
        .call("thread/start", thread_start_params(cwd))
        .await
        .expect("thread/start")["thread"]["id"]
        .as_str()
        .expect("thread id")
        .to_string();
    let mut bare = Bare::connect(env).await;
    let bare_thread = bare.start_thread(cwd).await;
    let mut control = Bare::connect(env).await;
    let control_thread = control.start_thread(cwd).await;

    // Timestamps of the SDK thread's `turn/completed` as routed (bounded channel; the bench
    // reads it after every turn).
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Instant>(64);
    let mut watch = client.runtime().subscribe_thread(session.thread_id());
    let watcher = tokio::spawn(async move {
        while let Ok(ev) = watch.recv().await {
            if matches!(ev.notification(), ServerNotification::TurnCompleted(_))
                && done_tx.send(Instant::now()).await.is_err()
            {
                return;
            }
        }
    });

    for i in 0..WARMUP_TURNS + turns {
        for k in 0..4 {
            let side = (i + k) % 4;
            let prompt = format!("ping {i}");
            let cpu_start = process_cpu_time();
            let start = Instant::now();
            let (text, completed) = match side {
                SDK => {
                    let text = session.ask(prompt).await.expect("ask").assistant_text;
                    let seen = done_rx
                        .recv()
                        .await
                        .expect("the watcher saw turn/completed");
                    (text, seen)
                }
                RAW => raw_turn(&raw, &raw_thread, cwd, &prompt).await,
                BARE => {
                    let text = bare.turn(&bare_thread, cwd, &prompt).await;
                    (text, Instant::now())
                }
                _ => {
                    let text = control.turn(&control_thread, cwd, &prompt).await;
                    (text, Instant::now())
                }
            };
            let elapsed = start.elapsed();
            let cpu_used = process_cpu_time().saturating_sub(cpu_start);
            assert_eq!(text, ANSWER, "{}", NAMES[side]);
            if i >= WARMUP_TURNS {
                samples.wall[side].push(elapsed);
                samples.to_completed[side].push(completed.saturating_duration_since(start));
                samples.cpu[side] += cpu_used;
            }
        }
    }
    let metrics = client.runtime().metrics();
    samples.sdk_messages_in += metrics.messages_in;
    samples.sdk_lag_drops += metrics.lag_drops;
    samples.sdk_decode_fallbacks += metrics.decode_fallbacks;
    watcher.abort();
    session.close().await.expect("close the session");
    client.shutdown().await.expect("shutdown");
    raw.shutdown().await.expect("shutdown");
    bare.close(&bare_thread).await;
    control.close(&control_thread).await;
}

/// The scripted fake app-server of this package (for the round-trip probe only).
const FAKE: &str = env!("CARGO_BIN_EXE_fake-app-server");
/// Round trips per side in the `fake/echo` probe.
const ECHO_ROUND_TRIPS: usize = 2000;

/// Latency of one JSON-RPC round trip (`fake/echo` on the fake app-server): the SDK's
/// `Runtime::call` against writing the line and reading the reply inline. Isolates the
/// per-request cost of the SDK's task hand-offs (caller -> writer task, reader task -> caller)
/// from codex's own latency. Returns (sdk, bare) samples, alternating in blocks of 100.
async fn echo_round_trips() -> (Vec<Duration>, Vec<Duration>) {
    let rt = Runtime::connect(
        codex_runtime::runtime::RuntimeConfig::new()
            .with_cli_bin(FAKE)
            .with_request_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("connect to the fake");
    let mut child = tokio::process::Command::new(FAKE)
        .arg("app-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the fake");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = Vec::new();
    let mut sdk = Vec::with_capacity(ECHO_ROUND_TRIPS);
    let mut bare = Vec::with_capacity(ECHO_ROUND_TRIPS);
    let params = json!({"ping": 1});
    let mut next_id = 0u64;
    while sdk.len() < ECHO_ROUND_TRIPS {
        for _ in 0..100 {
            let start = Instant::now();
            let r = rt
                .call("fake/echo", params.clone())
                .await
                .expect("fake/echo");
            sdk.push(start.elapsed());
            assert_eq!(r, params);
        }
        for _ in 0..100 {
            let start = Instant::now();
            let mut bytes = serde_json::to_vec(
                &json!({"id": next_id, "method": "fake/echo", "params": params}),
            )
            .expect("encode");
            bytes.push(b'\n');
            stdin.write_all(&bytes).await.expect("write");
            stdin.flush().await.expect("flush");
            line.clear();
            stdout.read_until(b'\n', &mut line).await.expect("read");
            let v: Value = serde_json::from_slice(&line).expect("reply");
            bare.push(start.elapsed());
            assert_eq!(v["id"], json!(next_id));
            next_id += 1;
        }
    }
    rt.shutdown().await.expect("shutdown");
    drop(stdin);
    let _ = child.wait().await;
    (sdk, bare)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--quick-run-child") {
        let cwd = args.get(pos + 1).expect("a cwd after --quick-run-child");
        quick_run_child(cwd).await;
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--rss-child") {
        let kind = args.get(pos + 1).expect("sdk or bare after --rss-child");
        let cwd = args.get(pos + 2).expect("a cwd after the kind");
        rss::rss_child(kind, cwd).await;
        return;
    }

    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text(ANSWER)))
        .await
        .expect("start the mock model and codex home");
    let cwd = absolute(env.workdir());
    println!("turn_overhead: codex {}", env.bin.display());
    println!("mock model {}; cwd {cwd}", env.mock.url());
    println!();
    rss::report(&env).await;
    if std::env::var("RSS_ONLY").is_ok_and(|v| v == "1") {
        return;
    }

    // Warm turns: blocks of interleaved turns, fresh processes per block.
    let blocks = env_usize("BLOCKS", DEFAULT_BLOCKS);
    let per_block = env_usize("TURNS", DEFAULT_TURNS).div_ceil(blocks);
    let turns = per_block * blocks;
    let mut samples = Samples::default();
    for _ in 0..blocks {
        warm_block(&env, &cwd, per_block, &mut samples).await;
    }
    let Samples {
        wall,
        to_completed,
        cpu,
        sdk_messages_in,
        sdk_lag_drops,
        sdk_decode_fallbacks,
    } = samples;

    // The baseline pools both bare drivers (2x the samples); bare vs bare #2 is the A/A check.
    let pooled: Vec<Duration> = wall[BARE].iter().chain(&wall[CONTROL]).copied().collect();
    let round_bare: Vec<Duration> = wall[BARE]
        .iter()
        .zip(&wall[CONTROL])
        .map(|(a, b)| (*a + *b) / 2)
        .collect();
    let (bare_med, bare_mean) = stats(&pooled);
    let bare_cpu = (ms(cpu[BARE]) + ms(cpu[CONTROL])) / (2 * turns) as f64;
    println!(
        "## warm turns ({turns} per side in {blocks} blocks with fresh processes, interleaved, {WARMUP_TURNS} warm-up turns per block)"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>12}",
        "",
        "median ms",
        "mean ms",
        "min ms",
        "max ms",
        "ovh med",
        "ovh mean",
        "paired",
        "cpu ms/turn"
    );
    for side in [SDK, RAW, BARE, CONTROL] {
        let (med, mean) = stats(&wall[side]);
        let min = wall[side].iter().copied().min().map(ms).unwrap_or(0.0);
        let max = wall[side].iter().copied().max().map(ms).unwrap_or(0.0);
        let paired = paired_median_diff(&wall[side], &round_bare) / bare_med * 100.0;
        println!(
            "{:<22} {:>9.2} {:>9.2} {:>8.2} {:>8.2} {:>8.2}% {:>8.2}% {:>8.2}% {:>12.3}",
            NAMES[side],
            med,
            mean,
            min,
            max,
            (med - bare_med) / bare_med * 100.0,
            (mean - bare_mean) / bare_mean * 100.0,
            paired,
            ms(cpu[side]) / turns as f64
        );
    }
    println!(
        "{:<22} {:>9.2} {:>9.2}",
        "bare, both pooled", bare_med, bare_mean
    );
    println!(
        "(ovh = vs both bare drivers pooled; paired = median over rounds of the difference to"
    );
    println!(
        " that round's mean bare turn; cpu = this process incl. the in-process mock model, so"
    );
    println!(" differences between rows are client-side CPU)");
    println!("time to turn/completed at the client (median ms) and the rest of the call:");
    for side in [SDK, RAW, BARE, CONTROL] {
        let (to_done, _) = stats(&to_completed[side]);
        let tail: Vec<Duration> = wall[side]
            .iter()
            .zip(&to_completed[side])
            .map(|(w, c)| w.saturating_sub(*c))
            .collect();
        let (tail_med, tail_mean) = stats(&tail);
        println!(
            "  {:<22} to turn/completed {:>7.2}  after it: median {:>6.3}, mean {:>6.3}",
            NAMES[side], to_done, tail_med, tail_mean
        );
    }
    println!(
        "sdk connections: {sdk_messages_in} messages in, {sdk_lag_drops} lag drops, {sdk_decode_fallbacks} decode fallbacks"
    );
    let (sdk_med, _) = stats(&wall[SDK]);
    let (b1, _) = stats(&wall[BARE]);
    let (b2, _) = stats(&wall[CONTROL]);
    let overhead_med = (sdk_med - bare_med) / bare_med;
    let noise = (b1 - b2).abs() / bare_med;
    let sdk_cpu_extra = ms(cpu[SDK]) / turns as f64 - bare_cpu;
    println!(
        "A/A noise (bare vs bare #2, medians): {:.2}%; SDK client CPU per turn beyond bare: {:.3} ms ({:.2}% of a bare turn)",
        noise * 100.0,
        sdk_cpu_extra,
        sdk_cpu_extra / bare_med * 100.0
    );
    // Wall-clock differences smaller than the A/A noise cannot be told apart from it.
    let wall_verdict = if overhead_med <= TARGET_OVERHEAD {
        "PASS"
    } else if overhead_med <= TARGET_OVERHEAD + noise {
        "INCONCLUSIVE (within the A/A noise)"
    } else {
        "FAIL"
    };
    println!(
        "{wall_verdict}: SDK overhead per turn {:.2}% (median wall, vs pooled bare) vs target <= {:.0}%",
        overhead_med * 100.0,
        TARGET_OVERHEAD * 100.0
    );
    let cpu_share = sdk_cpu_extra / bare_med;
    println!(
        "{}: SDK client-side cost per turn {:.2}% of a bare turn (extra CPU, the noise-free measure) vs target <= {:.0}%",
        if cpu_share <= TARGET_OVERHEAD {
            "PASS"
        } else {
            "FAIL"
        },
        cpu_share * 100.0,
        TARGET_OVERHEAD * 100.0
    );
    println!();

    // Request round trip on the fake app-server.
    let (echo_sdk, echo_bare) = echo_round_trips().await;
    let (es_med, es_mean) = stats(&echo_sdk);
    let (eb_med, eb_mean) = stats(&echo_bare);
    println!(
        "## JSON-RPC round trip, `fake/echo` on the fake app-server ({ECHO_ROUND_TRIPS} per side, alternating blocks of 100)"
    );
    println!("{:<22} {:>11} {:>11}", "", "median µs", "mean µs");
    println!(
        "{:<22} {:>11.1} {:>11.1}",
        "Runtime::call",
        es_med * 1000.0,
        es_mean * 1000.0
    );
    println!(
        "{:<22} {:>11.1} {:>11.1}",
        "bare write + read",
        eb_med * 1000.0,
        eb_mean * 1000.0
    );
    println!(
        "SDK per-request latency: {:+.1} µs median, {:+.1} µs mean",
        (es_med - eb_med) * 1000.0,
        (es_mean - eb_mean) * 1000.0
    );
    println!();

    // Cold runs, alternating.
    let mut quick = Vec::with_capacity(COLD_RUNS);
    let mut bare_text = Vec::with_capacity(COLD_RUNS);
    let mut bare_exit = Vec::with_capacity(COLD_RUNS);
    for _ in 0..COLD_RUNS {
        let (to_text, to_exit) = bare_cold(&env, &cwd).await;
        bare_text.push(to_text);
        bare_exit.push(to_exit);
        quick.push(run_quick_run_child(&env).await);
    }
    let (q_med, q_mean) = stats(&quick);
    let (bt_med, bt_mean) = stats(&bare_text);
    let (be_med, be_mean) = stats(&bare_exit);
    println!("## cold runs ({COLD_RUNS} per side, alternating; each spawns a fresh codex)");
    println!("{:<44} {:>11} {:>11}", "", "median ms", "mean ms");
    println!(
        "{:<44} {:>11.1} {:>11.1}",
        "quick_run (spawn .. text, archive, shutdown)", q_med, q_mean
    );
    println!(
        "{:<44} {:>11.1} {:>11.1}",
        "bare (spawn .. text, archive, exit)", be_med, be_mean
    );
    println!(
        "{:<44} {:>11.1} {:>11.1}",
        "bare (spawn .. text)", bt_med, bt_mean
    );
    println!(
        "quick_run vs bare to exit: {:+.1}% (median)",
        (q_med - be_med) / be_med * 100.0
    );
    env.assert_no_leftover_processes().await;
}
