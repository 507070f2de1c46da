//! Dispatch throughput against 1,000 flows with compiled trigger schemas.
//!
//! Run: `cargo bench -p codex-flow --bench dispatch`
//!
//! Measures, in one run and on the same events:
//! - baseline: a loop that only validates each payload with the same compiled validators of
//!   the steps whose trigger type matches (what matching cannot avoid doing);
//! - match: `FlowCatalog::match_event`, the matching and fan-out path dispatch uses;
//! - dispatch: `LocalFlowClient::dispatch_event` with memory state (`wait: false`): the event is
//!   validated, stored and matched, and every matched run is recorded, which is what a producer
//!   waits for (the contract's `202` answer);
//! - dispatch+exec: the same with `wait: true`, every run also executed by a no-op runner (a Code
//!   Mode step with the gate off fails at once, no process is started).
//!
//! The workload: 1,000 flows over 10 event types (100 candidate schemas per event, all of them
//! evaluated) and a fan-out of about 2 matched flows per event. It prints events/s and the ratio
//! to the baseline (target for dispatch: >= 0.7).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codex_flow::{
    default_roots, DispatchOptions, FlowCatalog, FlowClient, FlowEvent, LocalFlowClient,
    LocalFlowClientConfig, LocalHooks, PayloadSchema,
};
use serde_json::json;

const FLOWS: usize = 1000;
const EVENT_TYPES: usize = 10;
const EVENTS: usize = 2000;
/// Each flow accepts one patch number out of this many, so an event that passes its type's 100
/// candidate schemas' other rules matches 2 flows: a realistic fan-out (every candidate schema
/// is still evaluated, which is the work the baseline measures).
const FANOUT_PATCHES: usize = 500;

fn write_flows(dir: &std::path::Path) {
    for i in 0..FLOWS {
        let folder = dir.join("flows").join(format!("flow-{i:04}"));
        std::fs::create_dir_all(&folder).expect("flow folder");
        std::fs::write(
            folder.join("flow.toml"),
            format!(
                "name = \"flow-{i:04}\"\nversion = 1\n[[steps]]\nname = \"step\"\nrunner = \"code-mode\"\nscript = \"step.md\"\n[steps.trigger]\ntype = \"bench.event.{}\"\nschema = \"payload.schema.json\"\n",
                i % EVENT_TYPES
            ),
        )
        .expect("manifest");
        std::fs::write(folder.join("step.md"), "no-op").expect("step");
        std::fs::write(
            folder.join("payload.schema.json"),
            json!({
                "type": "object",
                "required": ["repo", "tag", "n"],
                "properties": {
                    "repo": {"type": "string", "pattern": "^[a-z0-9-]+/[a-z0-9-]+$"},
                    "tag": {"type": "string", "pattern": format!("^rust-v[0-9]+\\.[0-9]+\\.{}$", i % FANOUT_PATCHES)},
                    "n": {"type": "integer", "minimum": 0},
                    "labels": {"type": "array", "items": {"type": "string"}, "maxItems": 8}
                }
            })
            .to_string(),
        )
        .expect("schema");
    }
}

fn events() -> Vec<FlowEvent> {
    (0..EVENTS)
        .map(|i| {
            let payload = if i % 5 == 4 {
                json!({"tag": "rust-v1.2.0", "n": i})
            } else {
                json!({"repo": "openai/codex", "tag": format!("rust-v1.{}.{}", i % 7, i % FANOUT_PATCHES), "n": i, "labels": ["a", "b"]})
            };
            FlowEvent::new(format!("bench-{i}"), format!("bench.event.{}", i % EVENT_TYPES), payload)
        })
        .collect()
}

fn measure(name: &str, min_time: Duration, mut pass: impl FnMut() -> usize) -> (f64, usize) {
    let mut events = 0usize;
    let mut matched = 0usize;
    let start = Instant::now();
    while start.elapsed() < min_time {
        matched = pass();
        events += EVENTS;
    }
    let rate = events as f64 / start.elapsed().as_secs_f64();
    println!("{name:<10} {rate:>12.0} events/s  ({matched} matches per pass of {EVENTS} events)");
    (rate, matched)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_flows(dir.path());
    let load_start = Instant::now();
    let catalog = FlowCatalog::load(&default_roots(dir.path())).expect("catalog");
    println!(
        "loaded {} flows ({} compiled schemas) in {:.2?}",
        catalog.flows().len(),
        FLOWS,
        load_start.elapsed()
    );
    let events = events();

    // The baseline sees the same compiled validators, grouped by trigger type.
    let mut by_type: HashMap<String, Vec<Arc<PayloadSchema>>> = HashMap::new();
    for flow in catalog.flows() {
        for step in &flow.steps {
            if let (Some(trigger), Some(schema)) = (&step.manifest.trigger, &step.schema) {
                by_type
                    .entry(trigger.event_type.clone())
                    .or_default()
                    .push(schema.clone());
            }
        }
    }
    let min_time = Duration::from_secs(2);
    let (baseline, base_matches) = measure("baseline", min_time, || {
        let mut valid = 0;
        for event in &events {
            if let Some(schemas) = by_type.get(&event.event_type) {
                for schema in schemas {
                    if schema.is_valid(black_box(&event.payload)) {
                        valid += 1;
                    }
                }
            }
        }
        valid
    });
    let (matching, match_count) = measure("match", min_time, || {
        events
            .iter()
            .map(|e| black_box(catalog.match_event(e)).len())
            .sum()
    });
    assert_eq!(
        base_matches, match_count,
        "both loops must find the same matches"
    );
    println!(
        "ratio match/baseline: {:.3} (target >= 0.7)",
        matching / baseline
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Dispatch as a producer sees it: the event is validated, stored, matched and every run is
    // recorded (the contract's 202 answer); the runs then execute in the background.
    let accept_rate = runtime.block_on(dispatch_loop(&dir, &events, min_time, false));
    println!(
        "ratio dispatch/baseline: {:.3} (target >= 0.7; intake, matching, run records)",
        accept_rate / baseline
    );
    // The same with `wait: true`: each dispatch also waits until its runs have executed.
    let dispatch_rate = runtime.block_on(dispatch_loop(&dir, &events, min_time, true));
    println!(
        "ratio dispatch+execution/baseline: {:.3} (informational: also executes every run)",
        dispatch_rate / baseline
    );
}

async fn dispatch_loop(
    dir: &tempfile::TempDir,
    events: &[FlowEvent],
    min_time: Duration,
    wait: bool,
) -> f64 {
    let catalog = FlowCatalog::load(&default_roots(dir.path())).expect("catalog");
    let mut config = LocalFlowClientConfig::new(dir.path());
    config.max_memory_events = 1_000_000;
    let client =
        LocalFlowClient::with_catalog(config, catalog, LocalHooks::default()).expect("client");
    let mut round = 0usize;
    let mut dispatched = 0usize;
    let mut runs = 0usize;
    let start = Instant::now();
    while start.elapsed() < min_time {
        for event in events {
            let mut value = event.to_value();
            value["id"] = json!(format!("{}-{round}", event.id));
            let answer = client
                .dispatch_event(value, DispatchOptions { wait })
                .await
                .expect("dispatch");
            runs += answer.run_ids.len();
            dispatched += 1;
        }
        round += 1;
    }
    let rate = dispatched as f64 / start.elapsed().as_secs_f64();
    let label = if wait { "dispatch+exec" } else { "dispatch" };
    println!("{label:<14} {rate:>8.0} events/s  ({runs} runs recorded for {dispatched} events)");
    client.wait_idle().await;
    rate
}
