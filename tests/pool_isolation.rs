//! Tenant isolation on the runtime pool, through HTTP on the real codex with the mock model:
//! tenant B's conversation and files exist on disk, and tenant A's commands (`grep -r`, `find`,
//! `cat` over the pool root and B's codex home and workspace, under the default `read-only`
//! sandbox) never show them, while they do show A's own.

mod pool_support;
mod web_support;

use codex_runtime::runtime::SessionConfig;
use codex_test_support::codex_mock_model::{Reply, Scenario};
use pool_support::{key, PoolHarness};

/// Markers made at run time, so no file on disk (this source included) holds them before the
/// test writes them: B's words (in B's transcript), B's file, A's own file.
fn markers() -> (String, String, String) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007;
    (
        format!("zebra-{n}-bob-talk"),
        format!("zebra-{}-bob-file", n + 1),
        format!("alpha-{n}-own"),
    )
}

fn everything_text(events: &[web_support::Ev]) -> String {
    events
        .iter()
        .map(|e| e.data.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_commands_never_show_another_tenants_conversation_or_files() {
    let (b_talk, b_file, a_own) = markers();
    let (b_talk, b_file, a_own) = (b_talk.as_str(), b_file.as_str(), a_own.as_str());
    // The pool's defaults; the adapter's template at the SDK defaults (`never`, `read-only`).
    let h = PoolHarness::start(Scenario::empty(), 2, SessionConfig::new("."), |c| c).await;
    let root = h.pool.config().root.clone();
    let (a, b) = (h.pool.dirs(&key(0)), h.pool.dirs(&key(1)));

    // B talks; its words land in B's transcript.
    h.env.mock.push(Reply::text("noted"));
    let b_session = h.create_session(1).await;
    let mut b_events = h.events(1, &b_session, None).await;
    h.turn(1, &b_session, &format!("remember {b_talk}")).await;
    b_events.until("turn.completed").await;
    std::fs::write(b.workspace.join("private-notes.txt"), b_file).unwrap();
    let on_disk = std::process::Command::new("grep")
        .args(["-r", "-a", "-l", b_talk])
        .arg(&b.codex_home)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&on_disk.stdout).contains("sessions"),
        "B's transcript holds B's words: {on_disk:?}"
    );

    // A's model runs one command reading everything it can: patterns, never the secrets.
    let command = format!(
        "grep -r -a -o 'zebra-[0-9]*-bob-[a-z]*' {root} /tmp 2>/dev/null | head -50; \
         find {root} 2>&1 | head -200; \
         cat {b_home}/sessions/*/*/*/* {b_ws}/* 2>&1 | head -50; \
         grep -r -a -o 'alpha-[0-9]*-own' {root} 2>&1 | head -5",
        root = root.display(),
        b_home = b.codex_home.display(),
        b_ws = b.workspace.display(),
    );
    h.env.mock.push(Reply::shell(command));
    h.env.mock.push(Reply::text("looked around"));
    let a_session = h.create_session(0).await;
    std::fs::write(a.workspace.join("own.txt"), a_own).unwrap();
    let mut a_events = h.events(0, &a_session, None).await;
    h.turn(0, &a_session, "look around").await;
    let seen = everything_text(&a_events.until("turn.completed").await);

    assert!(
        seen.contains(a_own),
        "A's command ran and read A's own files: {seen}"
    );
    assert!(!seen.contains(b_talk), "A saw B's conversation: {seen}");
    assert!(!seen.contains(b_file), "A saw B's file: {seen}");
    assert!(
        !seen.contains("private-notes"),
        "A saw B's file name: {seen}"
    );
    h.stop().await;
}
