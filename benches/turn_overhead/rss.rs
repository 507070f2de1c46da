//! Client memory during turns: `Session::ask` against the bare driver, each in a fresh process
//! of this binary (re-executed with `--rss-child sdk|bare|typed CWD`), so that what one side's
//! allocator keeps cannot hide the other's. The child reports `VmRSS` after connecting, after
//! [`RSS_TURNS`] turns, and `VmHWM` (its peak over its whole life, the number compared).
//!
//! A third child, "bare + typed", is the bare driver that also decodes every line into the
//! generated protocol types exactly as the SDK does (`ServerNotification::decode`,
//! `ServerRequest::decode`, `from_str` of each response type). It splits the SDK's excess into
//! what typed decoding costs by itself and what the SDK's runtime adds on top of it.

use super::{absolute, Bare, ANSWER};
use codex_runtime::runtime::{Client, ClientConfig, SessionConfig};
use codex_test_support::{CodexTestEnv, CODEX_BIN_ENV};
use std::process::Stdio;

/// Turns per child.
pub const RSS_TURNS: usize = 20;
/// Children per side (alternating).
pub const RSS_RUNS: usize = 5;

/// One child's memory, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// `VmRSS` once connected (and, for the SDK, with a session started).
    pub connected: u64,
    /// `VmRSS` after the turns.
    pub after_turns: u64,
    /// `VmHWM`: peak resident set over the child's life.
    pub peak: u64,
    /// `RssAnon` after the turns: private memory (heap, stacks), what the process really costs.
    pub anon: u64,
    /// `RssFile` after the turns: mapped file pages, mostly the executable's code that ran
    /// (shared with other processes and reclaimable).
    pub file: u64,
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

/// Child mode: connect the way a user does (defaults; `CODEX_BIN`, `CODEX_HOME` and
/// `OPENAI_API_KEY` come from the parent), run [`RSS_TURNS`] turns, print
/// `RSS <connected> <after_turns> <peak> <anon> <file>`.
pub async fn rss_child(kind: &str, cwd: &str) {
    let rss = match kind {
        "sdk" => {
            let client = Client::connect(ClientConfig::new())
                .await
                .expect("Client::connect");
            let session = client
                .start_session(SessionConfig::new(cwd))
                .await
                .expect("start_session");
            let connected = status_kib("VmRSS:");
            for i in 0..RSS_TURNS {
                let out = session.ask(format!("ping {i}")).await.expect("ask");
                assert_eq!(out.assistant_text, ANSWER);
            }
            let rss = Rss {
                connected,
                after_turns: status_kib("VmRSS:"),
                peak: status_kib("VmHWM:"),
                anon: status_kib("RssAnon:"),
                file: status_kib("RssFile:"),
            };
            hold_for_inspection();
            session.close().await.expect("close");
            client.shutdown().await.expect("shutdown");
            rss
        }
        "bare" | "typed" => {
            let bin = std::env::var(CODEX_BIN_ENV).expect("CODEX_BIN");
            let mut command = tokio::process::Command::new(bin);
            command
                .arg("app-server")
                .current_dir(cwd)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            let mut bare = Bare::from_command_decoding(command, kind == "typed").await;
            let thread = bare.start_thread(cwd).await;
            let connected = status_kib("VmRSS:");
            for i in 0..RSS_TURNS {
                let text = bare.turn(&thread, cwd, &format!("ping {i}")).await;
                assert_eq!(text, ANSWER);
            }
            let rss = Rss {
                connected,
                after_turns: status_kib("VmRSS:"),
                peak: status_kib("VmHWM:"),
                anon: status_kib("RssAnon:"),
                file: status_kib("RssFile:"),
            };
            hold_for_inspection();
            bare.close(&thread).await;
            rss
        }
        other => panic!("unknown --rss-child kind {other:?} (sdk, bare or typed)"),
    };
    println!(
        "RSS {} {} {} {} {}",
        rss.connected, rss.after_turns, rss.peak, rss.anon, rss.file
    );
}

/// `RSS_HOLD_SECS=N`: the child prints its pid on stderr and sleeps N seconds after its turns
/// (connection still open), so `/proc/PID/smaps` and `/proc/PID/pagemap` can be read from
/// outside. Diagnostic only; the measurement is taken before it.
fn hold_for_inspection() {
    if let Some(secs) = std::env::var("RSS_HOLD_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        eprintln!("RSS_HOLD pid {}", std::process::id());
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// Runs one child of `kind` (`sdk`, `bare` or `typed`).
pub async fn run_rss_child(env: &CodexTestEnv, kind: &str) -> Rss {
    let exe = std::env::current_exe().expect("current exe");
    let out = tokio::process::Command::new(exe)
        .args(["--rss-child", kind, &absolute(env.workdir())])
        .envs(env.env_vars())
        .env(CODEX_BIN_ENV, &env.bin)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the rss child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RSS "))
        .unwrap_or_else(|| panic!("rss child printed no result ({}): {stdout}", out.status));
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    Rss {
        connected: f.first().copied().unwrap_or(0),
        after_turns: f.get(1).copied().unwrap_or(0),
        peak: f.get(2).copied().unwrap_or(0),
        anon: f.get(3).copied().unwrap_or(0),
        file: f.get(4).copied().unwrap_or(0),
    }
}

/// Alternating bare, typed and SDK children; prints the table and the verdict (target: SDK
/// peak ≤ 1.2 × bare, medians), and how the excess splits between typed decoding and the rest.
pub async fn report(env: &CodexTestEnv) {
    let (mut sdk, mut bare, mut typed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RSS_RUNS {
        bare.push(run_rss_child(env, "bare").await);
        typed.push(run_rss_child(env, "typed").await);
        sdk.push(run_rss_child(env, "sdk").await);
    }
    let med = |v: &[Rss], f: fn(&Rss) -> u64| {
        let mut s: Vec<u64> = v.iter().map(f).collect();
        s.sort_unstable();
        s[s.len() / 2] as f64 / 1024.0
    };
    println!(
        "## client memory during turns ({RSS_RUNS} fresh processes per side, alternating, {RSS_TURNS} turns each; medians)"
    );
    println!(
        "| client | RSS connected | RSS after turns | peak RSS (VmHWM) | of which anonymous (RssAnon) | of which file pages (RssFile) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, v) in [
        ("Session::ask", &sdk),
        ("bare JSON-RPC driver", &bare),
        ("bare + typed decode", &typed),
    ] {
        println!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} MiB | {:.1} MiB |",
            med(v, |r| r.connected),
            med(v, |r| r.after_turns),
            med(v, |r| r.peak),
            med(v, |r| r.anon),
            med(v, |r| r.file)
        );
    }
    let ratio = med(&sdk, |r| r.peak) / med(&bare, |r| r.peak);
    let anon = med(&sdk, |r| r.anon) / med(&bare, |r| r.anon);
    println!(
        "{}: SDK client peak RSS during turns {ratio:.2}x the bare driver's (target <= 1.2x)",
        if ratio <= 1.2 { "PASS" } else { "FAIL" }
    );
    println!(
        "{}: SDK client anonymous (private) memory after turns {anon:.2}x the bare driver's (target <= 1.2x)",
        if anon <= 1.2 { "PASS" } else { "FAIL" }
    );
    let typed_cost = med(&typed, |r| r.peak) / med(&bare, |r| r.peak);
    let over_typed = med(&sdk, |r| r.peak) / med(&typed, |r| r.peak);
    println!(
        "split: typed decoding alone {typed_cost:.2}x the bare driver's peak; Session::ask {over_typed:.2}x the bare + typed driver's peak"
    );
    println!();
}
