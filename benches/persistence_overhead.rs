//! Benchmark: what recording costs per turn, and how fast a thread imports, for both stores.
//!
//! Same mock model, same real codex (the pinned 0.169.0), same run, the method of
//! `benches/turn_overhead.rs`:
//! - **Recording overhead**: four drivers, each on its own `codex app-server` and thread, take
//!   turns round-robin (the order rotates every round): `Session::ask` unrecorded, the same
//!   turn through `Recorder::ask` into a `SqliteStore` file (WAL, `synchronous=FULL`) and into a
//!   `PostgresStore` (the server from `DATABASE_URL`, else 127.0.0.1:5432, a fresh database),
//!   and a second unrecorded session as the A/A control that shows the noise floor. `TURNS`
//!   (default 100) turns per driver in `BLOCKS` (default 5) blocks with fresh processes.
//!   Reported: median/mean wall time per turn, overhead vs both unrecorded drivers pooled, and
//!   this process's CPU per turn (`CLOCK_PROCESS_CPUTIME_ID`: SQLite's work runs in this
//!   process, PostgreSQL's in the server, so only the SQLite row shows the store's CPU).
//!   Target: overhead ≤ 3 %.
//! - **Import**: a thread of `IMPORT_TURNS` (default 50) turns is made with the mock, then
//!   imported `IMPORTS` (default 5) times into new conversations of each store
//!   (`Jobs::import_thread` + `run_now`: `thread/read` with turns, one transaction per turn,
//!   then verification of every item id). Reported: items per second of the whole job, and of
//!   the store alone (the same turns appended, one transaction per turn, no codex).
//!
//! `ASK_FLUSH_MS=N` sets `RecorderOptions::ask_flush_interval` (0: every event stored as it
//! arrives, the write pattern of `Recorder::ask_stream`); unset, the recorders use the defaults.
//!
//! Run: `cargo bench --bench persistence_overhead`. The benchmark reports; it never fails the
//! build.

use codex_mock_model::{Reply, Scenario};
use codex_runtime::persistence::{
    ConversationStore, Conversations, Jobs, NewConversation, OpenConversation, PostgresStore,
    Record, Recorder, RecorderOptions, Scope, SqliteStore, TurnStatus,
};
use codex_runtime::runtime::{Client, Session, Turn};
use codex_test_support::CodexTestEnv;
use std::sync::Arc;
#[path = "common/measure.rs"]
mod measure;
use measure::{env_usize, ms, process_cpu_time, stats};
use std::time::{Duration, Instant};

const DEFAULT_TURNS: usize = 100;
const DEFAULT_BLOCKS: usize = 5;
const WARMUP_TURNS: usize = 2;
const DEFAULT_IMPORT_TURNS: usize = 50;
const DEFAULT_IMPORTS: usize = 5;
const TARGET_OVERHEAD: f64 = 0.03;
const ANSWER: &str = "pong from the mock model";

const PLAIN: usize = 0;
const SQLITE: usize = 1;
const POSTGRES: usize = 2;
const CONTROL: usize = 3;
const NAMES: [&str; 4] = [
    "Session::ask (unrecorded)",
    "Recorder::ask, SQLite",
    "Recorder::ask, PostgreSQL",
    "unrecorded #2 (A/A)",
];

/// One driver of a block: a session, recorded or not.
struct Driver {
    client: Client,
    session: Session,
    recorder: Option<Recorder>,
}

async fn driver(
    env: &CodexTestEnv,
    store: Option<&Arc<dyn ConversationStore>>,
    scope: &Scope,
    id: &str,
) -> Driver {
    let client = Client::connect(env.client_config()).await.expect("connect");
    match store {
        None => Driver {
            session: client
                .start_session(env.session_config())
                .await
                .expect("start_session"),
            client,
            recorder: None,
        },
        Some(store) => {
            let control = Conversations::new(Arc::clone(store), client.clone());
            let open = OpenConversation::Start {
                conversation_id: id.to_string(),
                config: env.session_config(),
            };
            let c = control.open_conversation(scope, open).await.expect("open");
            // `ASK_FLUSH_MS` (unset: the default) sets `RecorderOptions::ask_flush_interval`;
            // 0 stores every event as it arrives, as `ask_stream` does.
            let recorder = match std::env::var("ASK_FLUSH_MS").ok() {
                None => c.recorder,
                Some(ms) => {
                    let mut options = RecorderOptions::default();
                    options.ask_flush_interval =
                        Duration::from_millis(ms.parse().expect("ASK_FLUSH_MS in milliseconds"));
                    Recorder::with_options(Arc::clone(store), scope.clone(), id, options)
                        .await
                        .expect("recorder")
                }
            };
            Driver {
                client,
                session: c.session,
                recorder: Some(recorder),
            }
        }
    }
}

impl Driver {
    async fn turn(&self, prompt: String) -> String {
        match &self.recorder {
            None => self.session.ask(prompt).await.expect("ask").assistant_text,
            Some(r) => {
                r.ask(&self.session, prompt)
                    .await
                    .expect("recorded ask")
                    .assistant_text
            }
        }
    }

    async fn close(self) {
        self.session.close().await.expect("close");
        self.client.shutdown().await.expect("shutdown");
    }
}

#[derive(Default)]
struct Samples {
    wall: [Vec<Duration>; 4],
    cpu: [Duration; 4],
}

async fn warm_block(
    env: &CodexTestEnv,
    stores: &[Arc<dyn ConversationStore>; 2],
    scope: &Scope,
    block: usize,
    turns: usize,
    samples: &mut Samples,
) {
    let drivers = [
        driver(env, None, scope, "").await,
        driver(env, Some(&stores[0]), scope, &format!("bench-{block}")).await,
        driver(env, Some(&stores[1]), scope, &format!("bench-{block}")).await,
        driver(env, None, scope, "").await,
    ];
    for i in 0..WARMUP_TURNS + turns {
        for k in 0..4 {
            let side = (i + k) % 4;
            let cpu_start = process_cpu_time();
            let start = Instant::now();
            let text = drivers[side].turn(format!("ping {i}")).await;
            let elapsed = start.elapsed();
            let cpu = process_cpu_time().saturating_sub(cpu_start);
            assert_eq!(text, ANSWER, "{}", NAMES[side]);
            if i >= WARMUP_TURNS {
                samples.wall[side].push(elapsed);
                samples.cpu[side] += cpu;
            }
        }
    }
    for d in drivers {
        d.close().await;
    }
}

/// Appends the turns of `thread` to a new conversation, one transaction per turn; returns the
/// time and the items stored.
async fn append_only(
    store: &Arc<dyn ConversationStore>,
    scope: &Scope,
    id: &str,
    turns: &[Turn],
) -> (Duration, usize) {
    store
        .create_conversation(scope, NewConversation::new(id))
        .await
        .expect("create");
    let start = Instant::now();
    let mut items = 0;
    for t in turns {
        let mut records = vec![Record::TurnStarted {
            turn_id: t.id.clone(),
            prompt: None,
        }];
        for item in &t.items {
            records.push(Record::ItemCompleted {
                turn_id: t.id.clone(),
                item: serde_json::to_value(item).expect("item json"),
            });
            items += 1;
        }
        records.push(Record::TurnCompleted {
            turn_id: t.id.clone(),
            status: TurnStatus::Completed,
            error: None,
            usage: None,
        });
        store.append(scope, id, records).await.expect("append");
    }
    (start.elapsed(), items)
}

#[tokio::main]
async fn main() {
    let env = CodexTestEnv::start(Scenario::empty().with_fallback(Reply::text(ANSWER)))
        .await
        .expect("start the mock model and codex home");
    let scratch =
        codex_mock_model::ScratchDir::create("persistence-bench", "store").expect("scratch dir");
    let db = codex_test_support::postgres::fresh_database("persist_bench")
        .await
        .expect("a PostgreSQL database (see scripts/ensure-postgres.sh)");
    let stores: [Arc<dyn ConversationStore>; 2] = [
        Arc::new(
            SqliteStore::open(scratch.path().join("bench.db"))
                .await
                .expect("sqlite"),
        ),
        Arc::new(PostgresStore::connect(db.url()).await.expect("postgres")),
    ];
    let scope = Scope::new("bench", "bench").expect("scope");
    println!("persistence_overhead: codex {}", env.bin.display());
    println!();

    let blocks = env_usize("BLOCKS", DEFAULT_BLOCKS);
    let per_block = env_usize("TURNS", DEFAULT_TURNS).div_ceil(blocks);
    let turns = per_block * blocks;
    let mut samples = Samples::default();
    for b in 0..blocks {
        warm_block(&env, &stores, &scope, b, per_block, &mut samples).await;
    }
    let pooled: Vec<Duration> = samples.wall[PLAIN]
        .iter()
        .chain(&samples.wall[CONTROL])
        .copied()
        .collect();
    let (base_med, base_mean) = stats(&pooled);
    let base_cpu = (ms(samples.cpu[PLAIN]) + ms(samples.cpu[CONTROL])) / (2 * turns) as f64;
    println!(
        "## recording overhead ({turns} turns per side in {blocks} blocks with fresh processes, interleaved, {WARMUP_TURNS} warm-up turns per block; Recorder::ask with {})",
        match std::env::var("ASK_FLUSH_MS") {
            Ok(ms) => format!("ask_flush_interval = {ms} ms (ASK_FLUSH_MS)"),
            Err(_) => "the default options".to_string(),
        }
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>12} {:>14}",
        "", "median ms", "mean ms", "ovh med", "ovh mean", "cpu ms/turn", "cpu vs unrec."
    );
    for side in [PLAIN, SQLITE, POSTGRES, CONTROL] {
        let (med, mean) = stats(&samples.wall[side]);
        let cpu = ms(samples.cpu[side]) / turns as f64;
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>8.2}% {:>8.2}% {:>12.3} {:>13.2}%",
            NAMES[side],
            med,
            mean,
            (med - base_med) / base_med * 100.0,
            (mean - base_mean) / base_mean * 100.0,
            cpu,
            (cpu - base_cpu) / base_med * 100.0,
        );
    }
    let (p1, _) = stats(&samples.wall[PLAIN]);
    let (p2, _) = stats(&samples.wall[CONTROL]);
    let noise = (p1 - p2).abs() / base_med;
    println!(
        "(ovh = vs both unrecorded drivers pooled, median {base_med:.2} ms; cpu vs unrec. = extra CPU of this process per turn as a share of the unrecorded median turn)"
    );
    println!(
        "A/A noise (unrecorded vs unrecorded #2, medians): {:.2}%",
        noise * 100.0
    );
    for side in [SQLITE, POSTGRES] {
        let (med, _) = stats(&samples.wall[side]);
        let ovh = (med - base_med) / base_med;
        let verdict = if ovh <= TARGET_OVERHEAD {
            "PASS"
        } else if ovh <= TARGET_OVERHEAD + noise {
            "INCONCLUSIVE (within the A/A noise)"
        } else {
            "FAIL"
        };
        println!(
            "{verdict}: {} overhead per turn {:.2}% (median wall) vs target <= {:.0}%",
            NAMES[side],
            ovh * 100.0,
            TARGET_OVERHEAD * 100.0
        );
    }
    println!();

    // Import throughput.
    let import_turns = env_usize("IMPORT_TURNS", DEFAULT_IMPORT_TURNS);
    let imports = env_usize("IMPORTS", DEFAULT_IMPORTS);
    let client = Client::connect(env.client_config()).await.expect("connect");
    let session = client
        .start_session(env.session_config())
        .await
        .expect("session");
    for i in 0..import_turns {
        session.ask(format!("turn {i}")).await.expect("ask");
    }
    let thread = session.read().await.expect("thread/read").thread;
    let items: usize = thread.turns.iter().map(|t| t.items.len()).sum();
    println!(
        "## import of a {import_turns}-turn thread ({items} items), {imports} imports per store into new conversations"
    );
    println!(
        "{:<12} {:>14} {:>14} {:>18}",
        "", "job median ms", "job items/s", "store-only items/s"
    );
    for (name, store) in ["SQLite", "PostgreSQL"].iter().zip(&stores) {
        let jobs = Jobs::new(Arc::clone(store)).with_client(client.clone());
        let mut job_times = Vec::with_capacity(imports);
        let mut store_times = Vec::with_capacity(imports);
        for i in 0..imports {
            let start = Instant::now();
            let job = jobs
                .import_thread(&scope, session.thread_id(), &format!("import-{i}"))
                .await
                .expect("queue");
            let job = jobs.run_now(&scope, &job.job_id).await.expect("run");
            job_times.push(start.elapsed());
            assert_eq!(job.progress.verified_items, items as i64, "{job:?}");
            let (t, n) = append_only(store, &scope, &format!("append-{i}"), &thread.turns).await;
            assert_eq!(n, items);
            store_times.push(t);
        }
        let (job_med, _) = stats(&job_times);
        let (store_med, _) = stats(&store_times);
        println!(
            "{:<12} {:>14.1} {:>14.0} {:>18.0}",
            name,
            job_med,
            items as f64 / (job_med / 1000.0),
            items as f64 / (store_med / 1000.0)
        );
    }
    println!("(job = thread/read with turns + one transaction per turn + verification of every item id; store-only = the same turns appended, one transaction per turn; medians)");
    session.close().await.expect("close");
    client.shutdown().await.expect("shutdown");
    let _ = db.drop_database().await;
    env.assert_no_leftover_processes().await;
}
