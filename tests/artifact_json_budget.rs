//! H1 of the 2026-12-07 review, end to end: a JSON artifact's edit task whose model reply is
//! 40 RFC 6902 `copy` ops from `""` (each doubles the document) is refused as too large at the
//! op that passes the limit, and the process never holds more than a bounded amount of memory.
//!
//! Alone in its binary on purpose: it reads the process's peak RSS (`VmHWM`). Before the fix
//! the document grew to 2^40 times its size before the size check; so that a regression does
//! not take the machine down, the test caps its own address space once codex is running.

use codex_mock_model::{Reply, Scenario, ScratchDir};
use codex_runtime::artifact::*;
use codex_runtime::runtime::Client;
use codex_test_support::CodexTestEnv;
use serde_json::json;

/// `VmHWM` (peak RSS) or `VmSize` of this process, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Caps this process's address space at its current size plus `extra` bytes: a regression
/// then fails on an allocation instead of exhausting the machine's memory.
fn cap_address_space(extra: u64) {
    let now = status_kib("VmSize:") * 1024;
    let limit = libc::rlimit {
        rlim_cur: now + extra,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit");
}

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_doubling_copy_ops_from_the_model_are_refused_as_too_large_in_bounded_memory() {
    let start = "{\"a\": 1}\n";
    let base = compute_revision(ArtifactFormat::Json, start);
    let ops: Vec<_> = (0..40)
        .map(|i| {
            json!({"op": "copy", "anchor": null, "text": null, "path": format!("/k{i}"),
                   "from": "", "value_json": null})
        })
        .collect();
    let reply = json!({"base_revision": base.as_str(), "ops": ops});
    let env = CodexTestEnv::start(Scenario::new(vec![Reply::json(reply)]))
        .await
        .unwrap();
    let dir = ScratchDir::create("artifact-json-budget", "store").unwrap();
    let store = FsArtifactStore::new(dir.path().join("store"));
    let client = Client::connect(env.client_config()).await.unwrap();
    let adapter = CodexArtifactAdapter::new(client.clone(), env.session_config())
        .with_attachment_dir(dir.path().join("attachments"));
    let manager = ArtifactSessionManager::new_with_adapter(adapter, store.clone())
        .unwrap()
        .with_config(ManagerConfig::new().with_max_attempts(1));
    let doc = manager
        .open_or_create(NewArtifact::new("config", ArtifactFormat::Json, start).unwrap())
        .await
        .unwrap();
    // codex is running: from here on nothing is spawned, and 2 GiB more is far above what the
    // refusal needs (and far below what the unbounded doubling would take).
    cap_address_space(2048 * MIB);

    let err = manager
        .run_task(TaskSpec::edit(doc.id.clone(), "Grow it."))
        .await
        .unwrap_err();
    let limit = PatchLimits::default().max_content_bytes;
    let ArtifactError::PatchRejected { rejection, .. } = &err else {
        panic!("expected PatchRejected, got {err:?}");
    };
    let RejectReason::TooLarge { size, limit: l } = rejection.reason else {
        panic!("expected TooLarge, got {rejection:?}");
    };
    assert_eq!(l, limit);
    assert!(size > limit, "{size}");
    let at = rejection.op_index.expect("the op that passed the limit");
    assert!(
        at < 30,
        "refused at the op that passed the limit, not after all 40: op {at}"
    );
    let stored = store.load(&doc.id).await.unwrap().unwrap();
    assert_eq!(stored.content, start, "the artifact is unchanged");

    let peak = status_kib("VmHWM:") * 1024;
    assert!(
        peak < 256 * MIB,
        "peak RSS {} MiB is under 256 MiB",
        peak / MIB
    );
    client.shutdown().await.unwrap();
    env.assert_no_leftover_processes().await;
}
