//! Reading a child's output with a size bound: the head of stdout, the tail of stderr.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Output read from a pipe, at most a bounded number of bytes of it.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    /// The kept bytes.
    pub(crate) bytes: Vec<u8>,
    /// How many bytes were read but not kept.
    pub(crate) dropped: usize,
}

/// Which part of an over-long output to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// The first bytes (for a JSON answer: a truncated one is invalid anyway).
    Head,
    /// The last bytes (for error messages, which usually end with the cause).
    Tail,
}

/// Reads `reader` to its end, keeping at most `limit` bytes (the rest is read and counted, so
/// the writer never blocks on a full pipe). A read error ends the output.
pub(crate) async fn read_bounded<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
    keep: Keep,
) -> Captured {
    let mut captured = Captured::default();
    let Some(mut reader) = reader else {
        return captured;
    };
    let mut chunk = [0u8; 8192];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::debug!(%err, "reading a hook's output failed; treating it as its end");
                break;
            }
        };
        captured.bytes.extend_from_slice(&chunk[..n]);
        if captured.bytes.len() > limit {
            let excess = captured.bytes.len() - limit;
            match keep {
                Keep::Head => captured.bytes.truncate(limit),
                Keep::Tail => {
                    captured.bytes.drain(..excess);
                }
            }
            captured.dropped += excess;
        }
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_head_or_tail_and_counts_the_rest() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let head = read_bounded(Some(&data[..]), 1000, Keep::Head).await;
        assert_eq!(head.bytes, &data[..1000]);
        assert_eq!(head.dropped, 19_000);
        let tail = read_bounded(Some(&data[..]), 1000, Keep::Tail).await;
        assert_eq!(tail.bytes, &data[19_000..]);
        assert_eq!(tail.dropped, 19_000);
        let small = read_bounded(Some(&b"abc"[..]), 1000, Keep::Tail).await;
        assert_eq!((small.bytes.as_slice(), small.dropped), (&b"abc"[..], 0));
        let none = read_bounded(None::<&[u8]>, 10, Keep::Head).await;
        assert!(none.bytes.is_empty());
    }
}
