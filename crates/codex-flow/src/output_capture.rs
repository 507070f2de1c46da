//! Bounded capture of a child's output: the tail is kept (older bytes are dropped and the
//! truncation noted) and complete lines are streamed to progress.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Default bound of each captured stream, 1 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1024 * 1024;
/// Lines longer than this are streamed to progress in pieces.
pub const MAX_PROGRESS_LINE: usize = 8 * 1024;

/// The captured tail of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedOutput {
    /// The kept text (the tail, lossily decoded as UTF-8).
    pub text: String,
    /// Whether older output was dropped to respect the bound.
    pub truncated: bool,
    /// How many bytes the stream produced in total.
    pub total_bytes: u64,
}

/// A byte tail bounded to `limit` bytes.
#[derive(Debug)]
pub(crate) struct OutputTail {
    buf: VecDeque<u8>,
    limit: usize,
    total: u64,
    truncated: bool,
}

impl OutputTail {
    pub(crate) fn new(limit: usize) -> Self {
        OutputTail {
            buf: VecDeque::new(),
            limit,
            total: 0,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let chunk = if chunk.len() > self.limit {
            self.truncated = true;
            self.buf.clear();
            &chunk[chunk.len() - self.limit..]
        } else {
            chunk
        };
        let overflow = (self.buf.len() + chunk.len()).saturating_sub(self.limit);
        if overflow > 0 {
            self.truncated = true;
            self.buf.drain(..overflow);
        }
        self.buf.extend(chunk);
    }

    pub(crate) fn snapshot(&self) -> CapturedOutput {
        let (a, b) = self.buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        CapturedOutput {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            truncated: self.truncated,
            total_bytes: self.total,
        }
    }
}

/// Reads `reader` to its end into `tail`, calling `on_line` for each line.
pub(crate) async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    tail: Arc<Mutex<OutputTail>>,
    mut on_line: impl FnMut(&str),
) {
    let mut chunk = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "step output read ended");
                break;
            }
        };
        if let Ok(mut t) = tail.lock() {
            t.push(&chunk[..n]);
        }
        for &byte in &chunk[..n] {
            if byte == b'\n' {
                emit(&mut line, &mut on_line);
            } else {
                line.push(byte);
                if line.len() >= MAX_PROGRESS_LINE {
                    emit(&mut line, &mut on_line);
                }
            }
        }
    }
    if !line.is_empty() {
        emit(&mut line, &mut on_line);
    }
}

fn emit(line: &mut Vec<u8>, on_line: &mut impl FnMut(&str)) {
    let text = String::from_utf8_lossy(line);
    on_line(text.trim_end_matches('\r'));
    line.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_bytes_and_notes_truncation() {
        let mut t = OutputTail::new(4);
        t.push(b"ab");
        assert_eq!(t.snapshot().text, "ab");
        t.push(b"cdef");
        let s = t.snapshot();
        assert_eq!(
            (s.text.as_str(), s.truncated, s.total_bytes),
            ("cdef", true, 6)
        );
        t.push(b"0123456789");
        assert_eq!(t.snapshot().text, "6789");
    }

    #[tokio::test]
    async fn capture_splits_lines() {
        let tail = Arc::new(Mutex::new(OutputTail::new(1024)));
        let mut lines = Vec::new();
        capture(&b"one\ntwo\r\nthree"[..], tail.clone(), |l| {
            lines.push(l.to_string())
        })
        .await;
        assert_eq!(lines, ["one", "two", "three"]);
        assert_eq!(tail.lock().unwrap().snapshot().text, "one\ntwo\r\nthree");
    }
}
