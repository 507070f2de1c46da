//! `codex-runtime serve --tenants FILE` at its defaults (approval `untrusted`, sandbox
//! `read-only`), offline on the real codex with a scripted mock model: two tenants from a TOML
//! file of token hashes, each on its own codex process and `CODEX_HOME`. Tenant A's command
//! (`grep -r`, `find`, `cat` over the pool root and B's home and workspace, approved by A
//! itself) never shows B's conversation or B's files, while it does show A's own; a bad file is
//! refused with a message naming the key.

use codex_runtime::web::hash_token;
use codex_test_support::codex_mock_model::ScratchDir;
use codex_test_support::{codex_bin, processes_tagged, wait_until_untagged, TAG_ENV};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(120);

/// Markers made at run time, so no file on disk (this source included) holds them before the
/// test writes them: Bob's words (in his transcript), Bob's file, Alice's own file.
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

fn command(root: &Path) -> String {
    let r = root.display();
    format!(
        "grep -r -a -o 'zebra-[0-9]*-bob-[a-z]*' {r} /tmp; find {r}; cat {r}/bob/codex-home/sessions/*/*/*/* {r}/bob/workspace/*; grep -r -a -o 'alpha-[0-9]*-own' {r}"
    )
}

async fn next(
    stream: &mut (impl futures::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Debug>>
              + Unpin),
) -> (String, Value) {
    let ev = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .unwrap();
    (ev.event, serde_json::from_str(&ev.data).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tenants_file_isolates_tenants_by_default() {
    let (b_talk, b_file, a_own) = markers();
    let (b_talk, b_file, a_own) = (b_talk.as_str(), b_file.as_str(), a_own.as_str());
    let workdir = ScratchDir::create("cli-workdirs", "serve-tenants").unwrap();
    let cache = ScratchDir::create("cli-cache", "serve-tenants").unwrap();
    let root = workdir.path().join("pool");
    // A bad file first: an unknown key is an error that names it.
    let bad = workdir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[tenants.a]\ntoken_sha256 = \"{}\"\nrole = \"admin\"\n",
            hash_token("x")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codex-runtime"))
        .args(["serve", "--offline", "--listen", "127.0.0.1:0", "--tenants"])
        .arg(&bad)
        .env("CODEX_BIN", codex_bin().unwrap())
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("role") && err.contains("bad.toml"), "{err}");

    let tenants = workdir.path().join("tenants.toml");
    std::fs::write(
        &tenants,
        format!(
            "[tenants.alice]\ntoken_sha256 = \"{}\"\n\n[tenants.bob]\ntoken_sha256 = \"{}\"\n",
            hash_token("alice-token"),
            hash_token("bob-token")
        ),
    )
    .unwrap();
    let scenario = workdir.path().join("scenario.json");
    let replies = json!({"replies": [
        {"kind": "text", "text": "noted"},
        {"kind": "shell", "cmd": command(&root)},
        {"kind": "text", "text": "looked around"},
    ]});
    std::fs::write(&scenario, replies.to_string()).unwrap();
    let tag = format!("serve-tenants-{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-runtime"))
        .args(["serve", "--offline", "--listen", "127.0.0.1:0", "--tenants"])
        .arg(&tenants)
        .arg("--pool-root")
        .arg(&root)
        .arg("--offline-scenario")
        .arg(&scenario)
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .env("CODEX_BIN", codex_bin().unwrap())
        .env("XDG_CACHE_HOME", cache.path())
        .env(TAG_ENV, &tag)
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("serving on ") {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_string();
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let post = |token: &'static str, path: String, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let session = |token: &'static str| async move {
        let res = post(token, "/api/sessions".into(), json!({})).await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let events = |token: &'static str, id: String| {
        let http = http.clone();
        let url = format!("{base}/api/sessions/{id}/events");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes_stream()
                .eventsource()
        }
    };

    // Bob talks; his words land in his transcript; a file of his lies in his workspace.
    let b = session("bob-token").await;
    let mut b_events = events("bob-token", b.clone()).await;
    let res = post(
        "bob-token",
        format!("/api/sessions/{b}/turns"),
        json!({"prompt": format!("remember {b_talk}")}),
    )
    .await;
    assert_eq!(res.status(), 202);
    while next(&mut b_events).await.0 != "turn.completed" {}
    std::fs::write(root.join("bob/workspace/private-notes.txt"), b_file).unwrap();

    // Alice's model runs the command; Alice approves it herself.
    let a = session("alice-token").await;
    std::fs::write(root.join("alice/workspace/own.txt"), a_own).unwrap();
    let mut a_events = events("alice-token", a.clone()).await;
    let res = post(
        "alice-token",
        format!("/api/sessions/{a}/turns"),
        json!({"prompt": "look around"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let mut seen = String::new();
    loop {
        let (kind, data) = next(&mut a_events).await;
        seen.push_str(&data.to_string());
        if kind == "approval.requested" {
            let id = data["request_id"].as_str().unwrap();
            let res = post(
                "alice-token",
                format!("/api/sessions/{a}/approvals/{id}"),
                json!({"decision": "accept"}),
            )
            .await;
            assert_eq!(res.status(), 204);
        }
        if kind == "turn.completed" {
            break;
        }
    }
    assert!(
        seen.contains(a_own),
        "Alice's command ran and read her own files: {seen}"
    );
    assert!(
        !seen.contains(b_talk),
        "Alice saw Bob's conversation: {seen}"
    );
    assert!(!seen.contains(b_file), "Alice saw Bob's file: {seen}");
    assert!(
        !seen.contains("private-notes"),
        "Alice saw Bob's file name: {seen}"
    );
    // Bob's words are on disk, in his own codex home only.
    let on_disk = std::process::Command::new("grep")
        .args(["-r", "-a", "-l", b_talk])
        .arg(&root)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&on_disk.stdout);
    assert!(files.contains("bob/codex-home/sessions"), "{files}");
    assert!(!files.contains("alice/"), "{files}");

    let pid = child.id().unwrap() as i32;
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    wait_until_untagged(&tag, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(processes_tagged(&tag).is_empty());
}
