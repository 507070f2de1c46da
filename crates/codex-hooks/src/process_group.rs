//! [`ProcessGroup`]: the one place in the workspace that signals a child's whole process group
//! (the child and everything it started), and kills it at the latest when dropped.
//!
//! Shell hooks (this crate), the codex child of `codex-runtime`'s stdio transport and the
//! command steps of `codex-flow` all spawn their child with `process_group(0)` and own it
//! through this type. Signals go through `nix`'s safe `killpg`.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::unistd::Pid;

/// A POSIX signal to send to a [`ProcessGroup`] (`Signal::SIGTERM`, `Signal::SIGKILL`, ...).
pub use nix::sys::signal::Signal;

/// The process group of a child spawned with `process_group(0)` (its pgid is its pid).
///
/// * [`ProcessGroup::kill`] sends a signal to every process of the group; a group that is
///   already gone is not an error.
/// * Once `SIGKILL` was sent the group counts as finished: later calls (and the drop) send
///   nothing, so a pgid the kernel reuses later is never signalled by mistake.
/// * Dropping the guard sends `SIGKILL` if that was not done yet, so an owner that is dropped
///   (a cancelled hook, a dropped transport, a step that ends) leaves no process behind. A
///   process that moves to another session or group with `setsid` escapes this.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use codex_hooks::{ProcessGroup, Signal};
///
/// let mut child = tokio::process::Command::new("sh")
///     .args(["-c", "sleep 30 & sleep 30"])
///     .process_group(0)
///     .spawn()?;
/// let group = ProcessGroup::led_by(child.id());
/// group.kill(Signal::SIGTERM); // both `sleep`s and the shell get SIGTERM
/// let status = child.wait().await?;
/// assert!(!status.success());
/// drop(group); // SIGKILL to whatever is left
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ProcessGroup {
    pgid: Option<Pid>,
    finished: AtomicBool,
}

impl ProcessGroup {
    /// The group led by the process `pid`, which must have been spawned with
    /// `process_group(0)`. `None` (the child's pid is unknown, e.g. it was already reaped), `0`
    /// or `1` give a group that signals nothing: never the caller's own group, never init.
    pub fn led_by(pid: Option<u32>) -> Self {
        ProcessGroup {
            pgid: pid
                .and_then(|pid| i32::try_from(pid).ok())
                .filter(|&p| p > 1)
                .map(Pid::from_raw),
            finished: AtomicBool::new(false),
        }
    }

    /// The group id (the leader's pid), if there is a group to signal.
    pub fn id(&self) -> Option<u32> {
        self.pgid.and_then(|p| u32::try_from(p.as_raw()).ok())
    }

    /// Sends `signal` to every process of the group, unless the group was already killed with
    /// `SIGKILL`. `SIGKILL` marks the group as finished. A group that no longer exists is not an
    /// error (that is the goal); other failures are logged.
    pub fn kill(&self, signal: Signal) {
        let Some(pgid) = self.pgid else { return };
        if signal == Signal::SIGKILL {
            if self.finished.swap(true, Ordering::SeqCst) {
                return;
            }
        } else if self.finished.load(Ordering::SeqCst) {
            return;
        }
        match nix::sys::signal::killpg(pgid, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => {
                tracing::warn!(pgid = pgid.as_raw(), %signal, %err, "could not signal the process group");
            }
        }
    }

    /// Whether `SIGKILL` was sent (by [`ProcessGroup::kill`]); nothing is signalled after that.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_group_for_unknown_or_reserved_pids() {
        assert_eq!(ProcessGroup::led_by(None).id(), None);
        assert_eq!(ProcessGroup::led_by(Some(0)).id(), None);
        assert_eq!(ProcessGroup::led_by(Some(1)).id(), None);
        assert_eq!(ProcessGroup::led_by(Some(u32::MAX)).id(), None);
        assert_eq!(ProcessGroup::led_by(Some(4242)).id(), Some(4242));
    }

    #[test]
    fn sigkill_finishes_the_group_once() {
        // A pgid that surely does not exist: killpg fails with ESRCH, which is fine.
        let group = ProcessGroup::led_by(Some(i32::MAX as u32));
        group.kill(Signal::SIGTERM);
        assert!(!group.is_finished());
        group.kill(Signal::SIGKILL);
        assert!(group.is_finished());
    }
}
