//! Benchmark: artifact patches and the filesystem store, each against a plain baseline in the
//! same run.
//!
//! - **Patch**: a 1 MiB markdown document and 100 anchored `replace` edits (each anchor occurs
//!   once). `apply_doc_patch` (which validates: base revision, anchors found exactly once, size
//!   limit, then builds the result and its SHA-256 revision) and `validate_doc_patch` followed by
//!   `apply_doc_patch` (what a cautious caller writes), against `str::replace` of the same 100
//!   edits on the same document. Sides alternate for `ROUNDS` (default 15) rounds; medians.
//! - **Store**: `FsArtifactStore::commit` in a loop (lock, read + integrity check, JSON encode,
//!   temp write, fsync, rename, directory fsync), for a 1 KiB and a 1 MiB document, against a
//!   bare atomic write of the same content bytes (temp write, fsync, rename, directory fsync,
//!   nothing else). Writes per second; `WRITES` (default 200) small and `WRITES / 10` large.
//!
//! Run: `cargo bench --bench artifact`. It reports; it never fails the build.

use codex_mock_model::ScratchDir;
use codex_runtime::artifact::*;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const EDITS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn document(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 256);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "## Section {i}\n\nParagraph {i}: the quick brown fox jumps over the lazy dog, \
             and the artifact store keeps every revision of it.\n\n"
        ));
        i += 1;
    }
    s
}

fn edits(sections: usize) -> Vec<(String, String)> {
    let step = sections / EDITS;
    (0..EDITS)
        .map(|k| {
            let i = k * step;
            (
                format!("Paragraph {i}:"),
                format!("Paragraph {i} (edited):"),
            )
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_patch(rounds: usize) {
    let content = document(1024 * 1024);
    let sections = content.matches("## Section ").count();
    let edits = edits(sections);
    let artifact = NewArtifact::new("bench", ArtifactFormat::Markdown, content.clone())
        .expect("id")
        .into_artifact(0)
        .expect("artifact");
    let patch = DocPatch::new(
        artifact.revision.clone(),
        edits
            .iter()
            .map(|(a, t)| PatchOp::replace(a.clone(), t.clone()))
            .collect(),
    );
    let limits = PatchLimits::default();
    let (mut apply, mut both, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let mut expected = String::new();
    for round in 0..rounds + 1 {
        let t = Instant::now();
        let mut s = content.clone();
        for (a, r) in &edits {
            s = s.replace(a.as_str(), r);
        }
        let d_plain = t.elapsed();
        let t = Instant::now();
        let out = apply_doc_patch(&artifact, &patch, &limits).expect("valid patch");
        let d_apply = t.elapsed();
        let t = Instant::now();
        validate_doc_patch(&artifact, &patch, &limits).expect("valid patch");
        let out2 = apply_doc_patch(&artifact, &patch, &limits).expect("valid patch");
        let d_both = t.elapsed();
        assert_eq!(out.content, s, "same edits, same result");
        assert_eq!(out2.content, s);
        expected = s;
        if round > 0 {
            plain.push(d_plain);
            apply.push(d_apply);
            both.push(d_both);
        }
    }
    let (p, a, b) = (median(plain), median(apply), median(both));
    println!(
        "patch: {} bytes, {EDITS} replace edits, {rounds} rounds (medians, sides alternate)",
        content.len()
    );
    println!("  str::replace x{EDITS} (baseline)        {:>10.2?}", p);
    println!(
        "  apply_doc_patch (validates + revision) {:>10.2?}  ratio {:.2}x baseline",
        a,
        a.as_secs_f64() / p.as_secs_f64()
    );
    println!(
        "  validate_doc_patch + apply_doc_patch   {:>10.2?}  ratio {:.2}x baseline",
        b,
        b.as_secs_f64() / p.as_secs_f64()
    );
    println!("  result {} bytes", expected.len());
}

fn bare_atomic_write(dir: &Path, n: usize, bytes: &[u8]) {
    let tmp = dir.join(format!(".tmp.{n}"));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .expect("temp");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    std::fs::rename(&tmp, dir.join("doc")).expect("rename");
    File::open(dir)
        .and_then(|d| d.sync_all())
        .expect("dir fsync");
}

async fn bench_store(label: &str, size: usize, writes: usize) {
    let scratch = ScratchDir::create("artifact-bench", label).expect("scratch");
    let store = FsArtifactStore::new(scratch.path().join("store"));
    let bare_dir = scratch.path().join("bare");
    std::fs::create_dir_all(&bare_dir).expect("bare dir");
    let base = document(size);
    let mut a = store
        .create(NewArtifact::new("doc", ArtifactFormat::Markdown, base.clone()).expect("id"))
        .await
        .expect("create");
    let (mut store_t, mut bare_t) = (Duration::ZERO, Duration::ZERO);
    for n in 0..writes {
        // The content changes every write (a new revision), same bytes for both sides.
        let content = format!("{base}write {n}\n");
        let t = Instant::now();
        a = store
            .commit(&a.id, &a.revision, content.clone(), "bench".into())
            .await
            .expect("commit");
        store_t += t.elapsed();
        let t = Instant::now();
        bare_atomic_write(&bare_dir, n, content.as_bytes());
        bare_t += t.elapsed();
    }
    let rate = |d: Duration| writes as f64 / d.as_secs_f64();
    println!(
        "store {label}: {writes} writes of {} bytes (interleaved with the baseline)",
        base.len()
    );
    println!(
        "  bare atomic write (temp, fsync, rename, dir fsync) {:>8.1} writes/s",
        rate(bare_t)
    );
    println!(
        "  FsArtifactStore::commit                          {:>8.1} writes/s  ratio {:.2}x baseline rate",
        rate(store_t),
        rate(store_t) / rate(bare_t)
    );
}

#[tokio::main]
async fn main() {
    let rounds = env_usize("ROUNDS", 15).max(1);
    let writes = env_usize("WRITES", 200).max(10);
    bench_patch(rounds);
    bench_store("1KiB", 1024, writes).await;
    bench_store("1MiB", 1024 * 1024, writes / 10).await;
}
