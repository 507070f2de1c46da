//! The stderr reader of a spawned codex keeps memory bounded, also for one gigantic line
//! without a newline: it is cut while it is read, not buffered whole first.
//!
//! This test binary counts heap bytes in use with a wrapping global allocator and checks the
//! peak while 256 MiB of a single line stream through `StderrTail::collect_from`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use codex_runtime::transport::process::{StderrTail, MAX_STDERR_LINE};
use tokio::io::{AsyncRead, ReadBuf};

/// `System`, counting the bytes currently allocated and their peak.
struct CountingAllocator;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A stream of `len` bytes of `x` (no newline), then `"\nlast words\n"`, made up on the fly
/// so that the input itself takes no memory.
struct HugeLine {
    left: usize,
    trailer: &'static [u8],
}

impl AsyncRead for HugeLine {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        static XS: [u8; 64 * 1024] = [b'x'; 64 * 1024];
        if self.left > 0 {
            let n = self.left.min(buf.remaining()).min(XS.len());
            buf.put_slice(&XS[..n]);
            self.left -= n;
        } else {
            let n = self.trailer.len().min(buf.remaining());
            buf.put_slice(&self.trailer[..n]);
            self.trailer = &self.trailer[n..];
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_huge_stderr_line_is_cut_while_it_is_read() {
    const LINE: usize = 256 * 1024 * 1024;
    let tail = StderrTail::new(16, 64 * 1024);
    let before = IN_USE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);

    tail.collect_from(HugeLine {
        left: LINE,
        trailer: b"\nlast words\n",
    });
    tail.wait_closed(Duration::from_secs(600)).await;

    let peak_growth = PEAK.load(Ordering::SeqCst).saturating_sub(before);
    let snapshot = tail.snapshot();
    let lines: Vec<&str> = snapshot.lines().collect();
    assert_eq!(lines.len(), 2, "{} bytes kept", snapshot.len());
    assert!(lines[0].starts_with("xxxx") && lines[0].ends_with('…'));
    assert!(lines[0].len() <= MAX_STDERR_LINE + '…'.len_utf8());
    assert_eq!(lines[1], "last words");
    // Read buffer, one cut line, the tail and the task: well under 1 MiB, against 256 MiB
    // (and more, while it grows) when the whole line was buffered before it was cut.
    assert!(
        peak_growth < 1024 * 1024,
        "peak heap growth {peak_growth} bytes while reading a {LINE}-byte line"
    );
}
