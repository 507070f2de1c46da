//! A child's process group, signalled as a whole and killed when dropped.

/// Owns the process group of a spawned step (its pgid is the child's pid).
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: libc::pid_t,
    reaped: bool,
}

impl ProcessGroup {
    pub(crate) fn new(pgid: libc::pid_t) -> Self {
        ProcessGroup {
            pgid,
            reaped: false,
        }
    }

    /// Sends `signal` to every process of the group; a group that is gone is not an error.
    pub(crate) fn signal(&self, signal: libc::c_int) {
        if self.reaped || self.pgid <= 1 {
            return;
        }
        // SAFETY: killpg has no memory-safety preconditions; pgid > 1 never targets init or
        // the caller's whole session.
        let rc = unsafe { libc::killpg(self.pgid, signal) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pgid = self.pgid, signal, error = %err, "killpg failed");
            }
        }
    }

    /// SIGKILLs whatever is left of the group and stops managing it.
    pub(crate) fn kill_all(&mut self) {
        self.signal(libc::SIGKILL);
        self.reaped = true;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}
