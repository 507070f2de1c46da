//! JSONL framing with a maximum line size.
//!
//! A line longer than the maximum is consumed up to its newline and reported as
//! [`Inbound::Oversize`]; the connection continues with the next line.

use super::{Inbound, MessageReceiver, MessageSender};
use futures::future::BoxFuture;
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

/// Default maximum size of one inbound line: 64 MiB (codex can send large items, e.g. a full
/// `thread/read` with its history or a big diff; peers that cap at 1 MiB drop those).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Reads newline-delimited messages from an async reader.
#[derive(Debug)]
pub struct JsonlReceiver<R> {
    reader: BufReader<R>,
    max_line_bytes: usize,
    buf: Vec<u8>,
    /// Bytes of the current line seen so far while discarding an oversize line.
    discarding: Option<usize>,
}

impl<R: AsyncRead + Unpin> JsonlReceiver<R> {
    /// Wraps a reader; lines longer than `max_line_bytes` are reported as oversize.
    pub fn new(reader: R, max_line_bytes: usize) -> Self {
        JsonlReceiver {
            reader: BufReader::with_capacity(64 * 1024, reader),
            max_line_bytes: max_line_bytes.max(1),
            buf: Vec::new(),
            discarding: None,
        }
    }

    /// Reads the next frame; `Ok(None)` at EOF. Empty lines are skipped.
    ///
    /// # Cancel safety
    /// Partial lines stay in `self`, so the future may be dropped between polls.
    pub async fn next_frame(&mut self) -> io::Result<Option<Inbound>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                // EOF: a trailing line without newline still counts.
                if let Some(len) = self.discarding.take() {
                    return Ok(Some(Inbound::Oversize { len }));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(Some(Inbound::Message(line)));
            }
            let newline = memchr_newline(available);
            // Fast path: a whole line in the read buffer becomes one exact-size allocation.
            if let (Some(end), true, None) = (newline, self.buf.is_empty(), self.discarding) {
                if end <= self.max_line_bytes {
                    let mut line = available[..end].to_vec();
                    self.reader.consume(end + 1);
                    if trim_cr(&mut line) {
                        continue;
                    }
                    return Ok(Some(Inbound::Message(line)));
                }
            }
            let take = newline.map(|i| i + 1).unwrap_or(available.len());
            let chunk_len = newline.unwrap_or(available.len());
            if let Some(seen) = self.discarding.as_mut() {
                *seen += chunk_len;
            } else if self.buf.len() + chunk_len > self.max_line_bytes {
                let seen = self.buf.len() + chunk_len;
                self.buf.clear();
                self.buf.shrink_to(64 * 1024);
                self.discarding = Some(seen);
            } else {
                self.buf.extend_from_slice(&available[..chunk_len]);
            }
            self.reader.consume(take);
            if newline.is_some() {
                if let Some(len) = self.discarding.take() {
                    return Ok(Some(Inbound::Oversize { len }));
                }
                if trim_cr(&mut self.buf) {
                    continue;
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(Some(Inbound::Message(line)));
            }
        }
    }
}

/// Strips a trailing `\r`; returns true when the line is blank (to be skipped).
fn trim_cr(buf: &mut Vec<u8>) -> bool {
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    buf.iter().all(|b| b.is_ascii_whitespace()) && {
        buf.clear();
        true
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

impl<R: AsyncRead + Send + Unpin + 'static> MessageReceiver for JsonlReceiver<R> {
    fn recv(&mut self) -> BoxFuture<'_, io::Result<Option<Inbound>>> {
        Box::pin(self.next_frame())
    }
}

/// Writes newline-delimited messages to an async writer (buffered; flushed by the writer task).
#[derive(Debug)]
pub struct JsonlSender<W: AsyncWrite> {
    writer: BufWriter<W>,
}

impl<W: AsyncWrite + Unpin> JsonlSender<W> {
    /// Wraps a writer.
    pub fn new(writer: W) -> Self {
        JsonlSender {
            writer: BufWriter::with_capacity(64 * 1024, writer),
        }
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> MessageSender for JsonlSender<W> {
    fn send<'a>(&'a mut self, message: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            self.writer.write_all(message).await?;
            self.writer.write_all(b"\n").await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(self.writer.flush())
    }

    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            self.writer.flush().await?;
            self.writer.shutdown().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<String> {
        let mut rx = JsonlReceiver::new(input, max);
        let mut out = Vec::new();
        while let Some(f) = rx.next_frame().await.unwrap() {
            out.push(match f {
                Inbound::Message(m) => String::from_utf8(m).unwrap(),
                Inbound::Oversize { len } => format!("<oversize {len}>"),
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_skips_blank_ones() {
        assert_eq!(
            frames(b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}", 100).await,
            vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
        );
    }

    #[tokio::test]
    async fn oversize_line_is_reported_and_the_stream_continues() {
        let mut input = b"{\"ok\":1}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend_from_slice(b"\n{\"ok\":2}\n");
        assert_eq!(
            frames(&input, 1000).await,
            vec!["{\"ok\":1}", "<oversize 300000>", "{\"ok\":2}"]
        );
    }

    #[tokio::test]
    async fn line_exactly_at_the_limit_passes() {
        let mut input = vec![b'y'; 10];
        input.push(b'\n');
        assert_eq!(frames(&input, 10).await, vec!["yyyyyyyyyy"]);
        assert_eq!(frames(&input, 9).await, vec!["<oversize 10>"]);
    }

    #[tokio::test]
    async fn sender_appends_newlines() {
        use tokio::io::AsyncReadExt;
        let (a, mut b) = tokio::io::duplex(1024);
        let mut tx = JsonlSender::new(a);
        tx.send(b"{}").await.unwrap();
        tx.send(b"[1]").await.unwrap();
        tx.close().await.unwrap();
        let mut out = Vec::new();
        b.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"{}\n[1]\n");
    }
}
