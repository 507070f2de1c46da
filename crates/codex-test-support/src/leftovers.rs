//! Finding and killing processes by the environment marker a [`crate::CodexTestEnv`] gives them.

use std::time::Duration;

use crate::TestSupportError;

/// Environment variable whose value tags every process a test environment starts.
pub const TAG_ENV: &str = "CODEX_RUNTIME_TEST_TAG";

/// Pids of live processes whose environment holds `CODEX_RUNTIME_TEST_TAG=<tag>` (scanned from
/// `/proc/*/environ`; processes that cannot be read, zombies included, are skipped, and so is
/// the calling process).
pub fn processes_tagged(tag: &str) -> Vec<u32> {
    let marker = format!("{TAG_ENV}={tag}").into_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|environ| {
                    environ
                        .split(|byte| *byte == 0)
                        .any(|var| var == marker.as_slice())
                })
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// How long [`kill_tagged`] lets tagged processes handle SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(300);

/// How long [`kill_tagged`] waits before it scans a second time when the first scan found
/// nothing (a process caught in `exec` reads as untagged for that instant).
const RESCAN_PAUSE: Duration = Duration::from_millis(20);

/// Stops every process tagged `tag`: SIGTERM first (so shells run their exit traps and release
/// locks), then, for those still alive after [`TERM_GRACE`], SIGKILL. Each signal goes to the
/// process's whole group when that group is not the caller's own, else to the process alone.
/// Blocks for at most the grace period (plus 20 ms when the first scan finds nothing);
/// returns the pids found at first.
pub fn kill_tagged(tag: &str) -> Vec<u32> {
    let mut pids = processes_tagged(tag);
    if pids.is_empty() {
        // A process that is exec'ing while `/proc` is scanned can read as untagged: its
        // `environ` was opened on the old image and reads empty once the new one is in place.
        // So one empty scan is not proof; look again after a short pause.
        std::thread::sleep(RESCAN_PAUSE);
        pids = processes_tagged(tag);
        if pids.is_empty() {
            return pids;
        }
    }
    signal_all(&pids, libc::SIGTERM);
    let deadline = std::time::Instant::now() + TERM_GRACE;
    let mut alive = processes_tagged(tag);
    while !alive.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        alive = processes_tagged(tag);
    }
    if !alive.is_empty() {
        tracing::debug!("tagged processes {alive:?} survived SIGTERM; sending SIGKILL");
        signal_all(&alive, libc::SIGKILL);
    }
    tracing::debug!("stopped leftover processes tagged {tag}: {pids:?}");
    pids
}

fn signal_all(pids: &[u32], signal: libc::c_int) {
    // SAFETY: getpgrp has no preconditions.
    let own_group = unsafe { libc::getpgrp() };
    for &pid in pids {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        // SAFETY: getpgid/kill are plain syscalls on a pid; a stale pid only yields ESRCH.
        unsafe {
            let group = libc::getpgid(pid);
            if group > 1 && group != own_group {
                libc::kill(-group, signal);
            }
            libc::kill(pid, signal);
        }
    }
}

/// Waits (polling every 20 ms) until no process is tagged `tag`, for at most `timeout`.
pub async fn wait_until_untagged(tag: &str, timeout: Duration) -> Result<(), TestSupportError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pids = processes_tagged(tag);
        if pids.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let details = pids
                .iter()
                .map(|pid| format!("{pid}: {}", command_line(*pid)))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(TestSupportError::LeftoverProcesses {
                tag: tag.to_owned(),
                pids,
                details,
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The command line of `pid` (NULs shown as spaces), or `?` when it cannot be read.
pub fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}
