//! `codex-runtime serve` end to end on the pinned real codex, offline (no API key): it says so,
//! serves the page and the API, a turn asks for approval and runs the command once approved,
//! the SQLite store keeps the history across a restart, memory per idle SSE client is measured,
//! and SIGTERM shuts it down gracefully with nothing left behind.

use codex_test_support::codex_mock_model::ScratchDir;
use codex_test_support::{codex_bin, processes_tagged, wait_until_untagged, TAG_ENV};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "serve-test-token";
const WAIT: Duration = Duration::from_secs(120);

struct Serve {
    child: Child,
    base: String,
    stderr: tokio::task::JoinHandle<Vec<String>>,
    tag: String,
}

async fn serve(workdir: &ScratchDir, cache: &ScratchDir, extra: &[&str]) -> Serve {
    let tag = format!("serve-test-{}-{}", std::process::id(), rand_suffix());
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-runtime"))
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .env("CODEX_BIN", codex_bin().unwrap())
        .env("XDG_CACHE_HOME", cache.path())
        .env("XDG_STATE_HOME", cache.path())
        .env(TAG_ENV, &tag)
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(rest) = line.strip_prefix("serving on ") {
                let url = rest.split_whitespace().next().unwrap();
                return url.trim_end_matches('/').to_string();
            }
        }
        panic!("serve exited before listening: {seen:#?}");
    })
    .await
    .expect("serve listened in time");
    let stderr = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        seen
    });
    Serve {
        child,
        base,
        stderr,
        tag,
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit status and everything it printed on stderr.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("serve stopped after SIGTERM")
            .unwrap();
        let stderr = self.stderr.await.unwrap().join("\n");
        if let Err(err) = wait_until_untagged(&self.tag, Duration::from_secs(5)).await {
            panic!("{err}");
        }
        assert!(processes_tagged(&self.tag).is_empty());
        (status, stderr)
    }
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> reqwest::Response {
    http.post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Every event up to `kind`, as (id, event, data).
async fn until(
    stream: &mut (impl futures::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Debug>>
              + Unpin),
    kind: &str,
) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .unwrap();
        let done = ev.event == kind;
        out.push((ev.id, ev.event, serde_json::from_str(&ev.data).unwrap()));
        if done {
            return out;
        }
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_offline_serves_the_page_and_a_turn_with_an_approval_kept_in_sqlite() {
    let workdir = ScratchDir::create("cli-workdirs", "serve").unwrap();
    let cache = ScratchDir::create("cli-cache", "serve").unwrap();
    let db = workdir.path().join("web.db");
    let store = format!("sqlite:{}", db.display());
    let server = serve(&workdir, &cache, &["--store", &store]).await;
    let http = http_client();

    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<script src=\"/app.js\""));
    let res = http.get(server.url("/api/sessions")).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let created: Value = post(&http, &server.url("/api/sessions"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let events_url = server.url(&format!("/api/sessions/{id}/events"));
    let res = http
        .get(&events_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut events = res.bytes_stream().eventsource();
    let res = post(
        &http,
        &server.url(&format!("/api/sessions/{id}/turns")),
        json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let asked = until(&mut events, "approval.requested").await;
    let request = &asked.last().unwrap().2;
    assert!(request["command"]
        .as_str()
        .unwrap()
        .contains("hello from a command you approved"));
    let res = post(
        &http,
        &server.url(&format!(
            "/api/sessions/{id}/approvals/{}",
            request["request_id"].as_str().unwrap()
        )),
        json!({"decision": "accept"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let rest = until(&mut events, "turn.completed").await;
    // The output arrives as `command.output` deltas while the command runs and, whole, in its
    // completed item; codex streams deltas only for output read before the command ends.
    let streamed: String = rest
        .iter()
        .filter(|(_, k, _)| k == "command.output")
        .map(|(_, _, d)| d["delta"].as_str().unwrap().to_string())
        .collect();
    let completed: String = rest
        .iter()
        .filter(|(_, k, d)| k == "item.completed" && d["item"]["type"] == "commandExecution")
        .filter_map(|(_, _, d)| d["item"]["aggregatedOutput"].as_str().map(str::to_string))
        .collect();
    assert!(
        streamed.contains("hello from a command you approved")
            || completed.contains("hello from a command you approved"),
        "streamed {streamed:?}, completed {completed:?}"
    );
    let text: String = rest
        .iter()
        .filter(|(_, k, _)| k == "agent.delta")
        .map(|(_, _, d)| d["delta"].as_str().unwrap().to_string())
        .collect();
    assert!(
        text.starts_with("Hello from the bundled mock model!"),
        "{text}"
    );
    let mut history = asked.clone();
    history.extend(rest);
    drop(events);

    // Memory per idle SSE client, on the server process (printed for docs/PERFORMANCE.md).
    const IDLE: usize = 200;
    let pid = server.child.id().unwrap();
    let before = vm_rss_kib(pid);
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let res = http
            .get(&events_url)
            .bearer_auth(TOKEN)
            .header("Last-Event-ID", history.last().unwrap().0.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        idle.push(res);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = vm_rss_kib(pid);
    println!(
        "serve: {IDLE} idle SSE clients on one session: VmRSS {before} KiB -> {after} KiB, \
         {:.1} KiB per client (debug build)",
        (after.saturating_sub(before)) as f64 / IDLE as f64
    );
    drop(idle);

    let (status, stderr) = server.stop().await;
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "offline: no OPENAI_API_KEY/CODEX_API_KEY set, serving the bundled mock model"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");

    // A restart on the same file replays the same history (the session is no longer live).
    let server = serve(&workdir, &cache, &["--store", &store]).await;
    let list: Value = http
        .get(server.url("/api/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["id"], id.as_str());
    let res = http
        .get(server.url(&format!("/api/sessions/{id}/events")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut replay = res.bytes_stream().eventsource();
    let replayed = until(&mut replay, "turn.completed").await;
    assert_eq!(replayed, history);
    drop(replay);
    let (status, stderr) = server.stop().await;
    assert!(status.success(), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_an_unknown_store() {
    let workdir = ScratchDir::create("cli-workdirs", "serve-bad").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codex-runtime"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", "mysql://x"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .current_dir(workdir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--store mysql://x: expected sqlite:PATH or postgres://"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_postgres_share_history_and_live_tail() {
    let db = codex_test_support::postgres::fresh_database("serve_two_processes")
        .await
        .unwrap();
    let workdir = ScratchDir::create("cli-workdirs", "serve-pg").unwrap();
    let cache = ScratchDir::create("cli-cache", "serve-pg").unwrap();
    let a = serve(&workdir, &cache, &["--store", db.url()]).await;
    let b = serve(&workdir, &cache, &["--store", db.url()]).await;
    let http = http_client();

    let created: Value = post(&http, &a.url("/api/sessions"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/sessions/{id}/events");
    let res = http
        .get(a.url(&path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut on_a = res.bytes_stream().eventsource();
    let turns = a.url(&format!("/api/sessions/{id}/turns"));
    assert_eq!(
        post(&http, &turns, json!({"prompt": "hi"})).await.status(),
        202
    );
    let mut history = until(&mut on_a, "approval.requested").await;
    let request_id = history.last().unwrap().2["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = a.url(&format!("/api/sessions/{id}/approvals/{request_id}"));
    assert_eq!(
        post(&http, &answer, json!({"decision": "accept"}))
            .await
            .status(),
        204
    );
    history.extend(until(&mut on_a, "turn.completed").await);

    // The browser reconnects to B: the whole history, then the live tail of A's next turn.
    let res = http
        .get(b.url(&path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut on_b = res.bytes_stream().eventsource();
    assert_eq!(until(&mut on_b, "turn.completed").await, history);
    assert_eq!(
        post(&http, &turns, json!({"prompt": "again"}))
            .await
            .status(),
        202
    );
    let live_a = until(&mut on_a, "turn.completed").await;
    let live_b = until(&mut on_b, "turn.completed").await;
    assert_eq!(live_b, live_a);
    assert!(live_b.iter().any(|(_, k, d)| k == "item.completed"
        && d["item"]["text"] == "The bundled mock model heard: again"));
    drop((on_a, on_b));
    for server in [a, b] {
        let (status, stderr) = server.stop().await;
        assert!(status.success(), "{stderr}");
        assert!(stderr.contains("PostgreSQL"), "{stderr}");
    }
    db.drop_database().await.unwrap();
}

/// A plain-HTTP client. In a workspace build reqwest gets `rustls-no-provider` (codex-flow's
/// choice), which needs a process-wide rustls provider before any client is built.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
