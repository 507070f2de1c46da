//! The web UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`, installed by
//! `scripts/ensure-chromium.sh`) driven through WebDriver with fantoccini, over the real codex
//! and the mock model: send a prompt and watch the reply stream in (with `<script>` in the
//! model's text shown as text, never run), approve a shell command under `untrusted` and watch
//! its output appear, reload and see the same history, and save a screenshot under `target/`.

mod web_support;

use codex_test_support::codex_mock_model::{Reply, ScratchDir};
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use web_support::{Harness, ALICE};

const XSS: &str = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">";

/// A chromedriver on a free port, killed on drop.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: run scripts/ensure-chromium.sh (as root)")
        })
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port().await;
        let child = tokio::process::Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { _child: child, url }
    }

    async fn browser(&self, profile: &ScratchDir) -> Browser {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
        ];
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": which("chromium"), "args": all}),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

/// The text of the conversation log.
async fn log_text(b: &Browser) -> String {
    let v = b
        .execute("return document.getElementById('log').innerText", vec![])
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

/// Waits until the log's text satisfies `ok`.
async fn wait_log(b: &Browser, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = log_text(b).await;
        if ok(&text) {
            return text;
        }
        assert!(
            started.elapsed() < web_support::WAIT,
            "timed out waiting for {what}; the log shows:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send_prompt(b: &Browser, prompt: &str) {
    let input = b.find(Locator::Id("prompt")).await.unwrap();
    input.send_keys(prompt).await.unwrap();
    b.find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_replies_asks_for_approval_and_survives_a_reload() {
    let h = Harness::start(
        vec![
            Reply::slow(
                ["Hello ", "from ", "the mock. ", XSS],
                Duration::from_millis(400),
            ),
            Reply::shell("echo browser-approved-77 && touch made_in_browser.txt"),
            Reply::text("the command finished"),
        ],
        |c| c,
    )
    .await;
    let driver = Driver::start().await;
    let profile = ScratchDir::create("web-browser", "chromium-profile").unwrap();
    let b = driver.browser(&profile).await;
    b.goto(&h.url(&format!("/#token={ALICE}"))).await.unwrap();
    b.wait()
        .for_element(Locator::Id("new-session"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("#sessions li.current"))
        .await
        .unwrap();

    // A reply streams in, and the model's markup is shown as text, never run.
    send_prompt(&b, "say hello").await;
    let partial = wait_log(&b, "the first chunks", |t| t.contains("Hello from")).await;
    let text = wait_log(&b, "the whole reply", |t| t.contains("turn completed")).await;
    assert!(
        !partial.contains("turn completed"),
        "the text was shown while the turn still ran: {partial}"
    );
    assert!(
        text.contains("<script>window.__pwned = 1</script>"),
        "{text}"
    );
    let pwned: Value = b
        .execute(
            "return [window.__pwned === undefined, document.querySelectorAll('#log script, #log img').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pwned, json!([true, 0]), "model text was rendered as HTML");

    // A shell command under `untrusted`: the page asks, we approve, its output appears.
    send_prompt(&b, "run it").await;
    let approve = b
        .wait()
        .for_element(Locator::Css(".approval button.accept"))
        .await
        .unwrap();
    let asked = log_text(&b).await;
    assert!(asked.contains("browser-approved-77"), "{asked}");
    assert!(!h.env.workdir().join("made_in_browser.txt").exists());
    approve.click().await.unwrap();
    let text = wait_log(&b, "the command's output", |t| {
        t.contains("answer: \"accept\"") || t.contains("answer: accept")
    })
    .await;
    let text = if text.matches("turn completed").count() >= 2 {
        text
    } else {
        wait_log(&b, "the second turn's end", |t| {
            t.matches("turn completed").count() >= 2
        })
        .await
    };
    assert!(text.contains("\nbrowser-approved-77"), "{text}");
    assert!(text.contains("the command finished"), "{text}");
    assert!(h.env.workdir().join("made_in_browser.txt").exists());

    // Reload: the same history comes back from the server.
    b.refresh().await.unwrap();
    let again = wait_log(&b, "the history after a reload", |t| {
        t.matches("turn completed").count() >= 2
    })
    .await;
    for part in [
        "say hello",
        "Hello from the mock.",
        "<script>window.__pwned = 1</script>",
        "run it",
        "browser-approved-77",
        "the command finished",
    ] {
        assert!(
            again.contains(part),
            "`{part}` missing after reload:\n{again}"
        );
    }

    let shot = b.screenshot().await.unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-browser.png");
    std::fs::write(&path, &shot).unwrap();
    assert!(shot.len() > 10_000, "a real screenshot");
    b.close().await.unwrap();
    h.stop().await;
}

/// The text of the page's notice line.
async fn notice_text(b: &Browser) -> String {
    let v = b
        .execute(
            "return document.getElementById('notice').textContent",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_drops_the_token_from_the_address_bar_and_stops_on_a_history_that_is_gone() {
    // No store and a small memory: once the turn is over, the session's start is gone.
    let h = Harness::start(
        vec![Reply::slow(
            (0..60).map(|i| format!("part-{i} ")),
            Duration::from_millis(5),
        )],
        |c| c.with_replay_buffer(16),
    )
    .await;
    let session = h.create_session(ALICE).await;
    let mut events = h.events(ALICE, &session, None).await;
    h.turn(ALICE, &session, "many parts").await;
    let all = events.until("turn.completed").await;
    assert!(all.len() > 20, "more events than memory holds");
    drop(events);

    let driver = Driver::start().await;
    let profile = ScratchDir::create("web-browser", "chromium-profile").unwrap();
    let b = driver.browser(&profile).await;
    // Opened with the token only (no session selected): it leaves the address bar at once.
    b.goto(&h.url(&format!("/#token={ALICE}"))).await.unwrap();
    b.wait()
        .for_element(Locator::Css("#sessions li"))
        .await
        .unwrap();
    let href: Value = b.execute("return location.href", vec![]).await.unwrap();
    let href = href.as_str().unwrap();
    assert!(
        !href.contains("token"),
        "the token is still in the address bar: {href}"
    );
    assert!(!href.contains(ALICE), "{href}");

    // The token stays in this tab's sessionStorage: open the session directly.
    // (The query makes it a new document, not a same-document fragment change.)
    b.goto(&h.url(&format!("/?again=1#session={session}")))
        .await
        .unwrap();
    // Following from the start is refused with 410: the page says so and stops asking.
    let started = Instant::now();
    let notice = loop {
        let text = notice_text(&b).await;
        if text.contains("no longer available") {
            break text;
        }
        if started.elapsed() > web_support::WAIT {
            let state: Value = b
                .execute(
                    "return [location.href, document.getElementById('log').innerText, document.getElementById('title').textContent]",
                    vec![],
                )
                .await
                .unwrap();
            panic!("the page kept retrying: notice {text:?}, page {state}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!notice.contains("reconnecting"), "{notice}");
    b.close().await.unwrap();
    h.stop().await;
}
