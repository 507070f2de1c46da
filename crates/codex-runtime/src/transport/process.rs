//! The spawned codex child: its own process group, killed with its owner, and a bounded ring
//! buffer of its stderr that feeds `tracing` and is attached to crash errors.

use codex_hooks::{ProcessGroup, Signal};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// Bounded tail of a child's stderr.
#[derive(Debug, Clone)]
pub struct StderrTail {
    inner: Arc<Mutex<TailState>>,
    closed: Arc<tokio::sync::watch::Sender<bool>>,
}

#[derive(Debug)]
struct TailState {
    lines: VecDeque<String>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

/// Longest single stderr line kept (longer lines are cut, while they are read).
pub const MAX_STDERR_LINE: usize = 4096;

/// Size of the read buffer of the stderr reader.
const STDERR_READ_CHUNK: usize = 8 * 1024;

impl StderrTail {
    /// A tail that keeps at most `max_lines` lines and `max_bytes` bytes.
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        StderrTail {
            inner: Arc::new(Mutex::new(TailState {
                lines: VecDeque::new(),
                bytes: 0,
                max_lines: max_lines.max(1),
                max_bytes: max_bytes.max(64),
            })),
            closed: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Appends one line, evicting the oldest ones beyond the bounds.
    pub fn push(&self, mut line: String) {
        if line.len() > MAX_STDERR_LINE {
            let mut cut = MAX_STDERR_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let Ok(mut s) = self.inner.lock() else { return };
        s.bytes += line.len();
        s.lines.push_back(line);
        while s.lines.len() > s.max_lines || (s.bytes > s.max_bytes && s.lines.len() > 1) {
            if let Some(old) = s.lines.pop_front() {
                s.bytes -= old.len();
            }
        }
    }

    /// The kept lines joined with newlines.
    pub fn snapshot(&self) -> String {
        match self.inner.lock() {
            Ok(s) => s
                .lines
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            Err(_) => String::new(),
        }
    }

    /// Spawns a task that reads `stream` line by line into this tail and into `tracing`.
    ///
    /// Memory stays bounded whatever the child writes: the stream is read in chunks of 8 KiB
    /// and a line keeps at most [`MAX_STDERR_LINE`] bytes (the rest of it is skipped while it
    /// is read, and the kept part ends with `…`).
    pub fn collect_from<R: AsyncRead + Send + Unpin + 'static>(&self, stream: R) {
        let tail = self.clone();
        tokio::spawn(async move {
            let reader = BufReader::with_capacity(STDERR_READ_CHUNK, stream);
            read_bounded_lines(reader, MAX_STDERR_LINE, |line| {
                tracing::debug!(target: "codex_runtime::stderr", "{line}");
                tail.push(line);
            })
            .await;
            tail.closed.send_replace(true);
        });
    }

    /// Waits (up to `timeout`) until the child's stderr reached end of file, so the tail holds
    /// its last words.
    pub async fn wait_closed(&self, timeout: Duration) {
        let mut rx = self.closed.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|closed| *closed)).await;
    }
}

/// Reads `reader` to its end (or first error) and hands every non-blank line, without its
/// trailing whitespace, to `on_line`. A line longer than `max_line` bytes is cut while it is
/// read: its first `max_line` bytes are kept (plus `…`), the rest is consumed and dropped.
///
/// Hand-written because `tokio_util`'s `LinesCodec::new_with_max_length` discards an overlong
/// line entirely, and the head of a panic message is exactly what a crash report needs.
async fn read_bounded_lines<R: tokio::io::AsyncBufRead + Unpin>(
    mut reader: R,
    max_line: usize,
    mut on_line: impl FnMut(String),
) {
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut cut = false;
    let mut emit = |line: &mut Vec<u8>, cut: &mut bool| {
        let mut text = String::from_utf8_lossy(line).trim_end().to_string();
        if *cut {
            text.push('…');
        }
        line.clear();
        *cut = false;
        if !text.is_empty() {
            on_line(text);
        }
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (segment, ends_line) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let room = max_line.saturating_sub(line.len());
        line.extend_from_slice(&segment[..segment.len().min(room)]);
        cut |= segment.len() > room;
        let consumed = segment.len() + usize::from(ends_line);
        reader.consume(consumed);
        if ends_line {
            emit(&mut line, &mut cut);
        }
    }
    emit(&mut line, &mut cut);
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal, when one killed it.
    pub signal: Option<i32>,
}

/// The codex child process. Dropping the handle kills the child's whole process group.
#[derive(Debug)]
pub struct ProcessHandle {
    child: Child,
    pid: Option<u32>,
    group: ProcessGroup,
    stderr: StderrTail,
    exit: Option<ExitInfo>,
}

impl ProcessHandle {
    /// Wraps a child spawned with `process_group(0)` (so its pid is its process group id).
    pub fn new(child: Child, stderr: StderrTail) -> Self {
        let pid = child.id();
        ProcessHandle {
            child,
            pid,
            group: ProcessGroup::led_by(pid),
            stderr,
            exit: None,
        }
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The stderr tail.
    pub fn stderr(&self) -> &StderrTail {
        &self.stderr
    }

    /// The exit info if the child has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitInfo> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(exit_info(status));
            }
        }
        self.exit
    }

    /// Waits up to `timeout` for the child to exit.
    pub async fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitInfo> {
        if let Some(e) = self.try_exit() {
            return Some(e);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.exit = Some(exit_info(status));
                self.exit
            }
            _ => None,
        }
    }

    /// Kills the whole process group (SIGKILL) and reaps the child.
    pub async fn kill(&mut self) -> Option<ExitInfo> {
        self.kill_group();
        self.wait_timeout(Duration::from_secs(5)).await
    }

    fn kill_group(&mut self) {
        self.group.kill(Signal::SIGKILL);
        let _ = self.child.start_kill();
    }
}

impl Drop for ProcessHandle {
    fn drop(&mut self) {
        // Kill the group even when the leader already exited: tools it started may live on.
        self.kill_group();
        // Reap without blocking; tokio's orphan reaper finishes the job if needed.
        let _ = self.child.try_wait();
    }
}

fn exit_info(status: std::process::ExitStatus) -> ExitInfo {
    use std::os::unix::process::ExitStatusExt;
    ExitInfo {
        code: status.code(),
        signal: status.signal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_within_bounds() {
        let t = StderrTail::new(3, 1000);
        for i in 0..10 {
            t.push(format!("line {i}"));
        }
        assert_eq!(t.snapshot(), "line 7\nline 8\nline 9");
        let t = StderrTail::new(100, 64);
        for _ in 0..10 {
            t.push("x".repeat(30));
        }
        assert_eq!(t.snapshot().lines().count(), 2);
    }

    #[tokio::test]
    async fn the_reader_cuts_long_lines_and_skips_blank_ones() {
        let input: &[u8] = b"short\n\n   \n0123456789abcdef\ntail without newline";
        let mut lines = Vec::new();
        read_bounded_lines(input, 10, |l| lines.push(l)).await;
        assert_eq!(lines, ["short", "0123456789…", "tail witho…"]);
    }

    #[test]
    fn very_long_lines_are_cut() {
        let t = StderrTail::new(3, 100_000);
        t.push("é".repeat(10_000));
        assert!(t.snapshot().len() <= MAX_STDERR_LINE + 4);
    }
}
