//! [`ProcessGroup`]: kills a hook's whole process group (the hook and everything it started)
//! once, at the latest when dropped.

use std::sync::atomic::{AtomicBool, Ordering};

/// The process group of a child spawned with `process_group(0)` (its pgid is its pid).
///
/// [`ProcessGroup::kill`] sends `SIGKILL` to the group once; dropping the guard does the same
/// if it was not done yet, so a cancelled hook leaves no process behind.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Option<i32>,
    killed: AtomicBool,
}

impl ProcessGroup {
    /// The group led by the process `pid` (`None` when the pid is unknown: nothing to kill).
    pub(crate) fn led_by(pid: Option<u32>) -> Self {
        ProcessGroup {
            pgid: pid
                .and_then(|pid| i32::try_from(pid).ok())
                .filter(|&p| p > 0),
            killed: AtomicBool::new(false),
        }
    }

    /// Sends `SIGKILL` to every process of the group, the first time it is called.
    pub(crate) fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(pgid) = self.pgid else { return };
        kill_group(pgid);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    // SAFETY: killpg has no memory-safety preconditions; `pgid` is positive (checked in
    // `led_by`), so this never signals our own group (0) or every process (-1).
    #[allow(unsafe_code)]
    let rc = unsafe { libc::killpg(pgid, libc::SIGKILL) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // ESRCH: the group is already gone, which is the goal.
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, %err, "could not kill the hook's process group");
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: i32) {
    // Without process groups only the direct child is killed (tokio's kill_on_drop).
}
