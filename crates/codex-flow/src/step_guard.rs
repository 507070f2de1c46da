//! A guard process per command step: it holds the read end of a pipe whose write end only this
//! process has. When this process dies, by any means including SIGKILL, the kernel closes the
//! write end; the guard reads EOF and SIGKILLs the step's whole process group. So no process of
//! a step outlives the worker that ran it (`PR_SET_PDEATHSIG` alone only reaches the group's
//! leader, and it belongs to the forking thread, not the process).
//!
//! The guard is a plain `fork()` of this process that never returns to Rust code: after the
//! fork it only makes async-signal-safe calls (`sigaction`, `dup2`, `close_range`/`close`,
//! `read`, `kill`, `_exit`), as a child of a multi-threaded process must. When the step ends
//! normally, the guard is killed and reaped before the pipe closes, so it never signals a
//! process group id that may have been reused.

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd};

    /// The guard of one step's process group; dropping it stops and reaps the guard.
    #[derive(Debug)]
    pub(crate) struct StepGuard {
        pid: libc::pid_t,
        _write: OwnedFd,
    }

    impl StepGuard {
        /// Starts a guard that SIGKILLs process group `pgid` when this process dies.
        pub(crate) fn watch(pgid: u32) -> io::Result<StepGuard> {
            let pgid = libc::pid_t::try_from(pgid)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pgid out of range"))?;
            if pgid <= 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no process group",
                ));
            }
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: fds has room for the two descriptors pipe2 writes.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let [read_fd, write_fd] = fds;
            // SAFETY: both descriptors were just created and are owned here only.
            let (read_end, write_end) = unsafe {
                (
                    OwnedFd::from_raw_fd(read_fd),
                    OwnedFd::from_raw_fd(write_fd),
                )
            };
            // SAFETY: the child branch calls only async-signal-safe functions and never returns.
            match unsafe { libc::fork() } {
                -1 => Err(io::Error::last_os_error()),
                0 => unsafe { guard_main(read_fd, pgid) },
                pid => {
                    drop(read_end);
                    Ok(StepGuard {
                        pid,
                        _write: write_end,
                    })
                }
            }
        }
    }

    impl Drop for StepGuard {
        fn drop(&mut self) {
            // SAFETY: pid is our own unreaped child; kill + waitpid end and reap it.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                while libc::waitpid(self.pid, &mut status, 0) == -1
                    && *libc::__errno_location() == libc::EINTR
                {}
            }
        }
    }

    /// The guard's whole life: wait for EOF on `read_fd`, then kill the group.
    ///
    /// # Safety
    /// Only to be called in the child right after `fork()`.
    unsafe fn guard_main(read_fd: libc::c_int, pgid: libc::pid_t) -> ! {
        // Terminal and service-manager signals are for the worker; the guard lives as long as
        // the worker does, and no longer.
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
        // Keep only the pipe's read end (as fd 0): a copy of another step's write end (or of
        // any other descriptor of the worker) held here would keep that pipe open.
        if libc::dup2(read_fd, 0) < 0 {
            libc::kill(-pgid, libc::SIGKILL);
            libc::_exit(1);
        }
        if libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) != 0 {
            for fd in 1..65_536 {
                libc::close(fd);
            }
        }
        let mut byte = 0u8;
        loop {
            let n = libc::read(0, (&mut byte as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        libc::kill(-pgid, libc::SIGKILL);
        libc::_exit(0)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// No guard on this platform: the step's group is killed by the living worker only.
    #[derive(Debug)]
    pub(crate) struct StepGuard;

    impl StepGuard {
        pub(crate) fn watch(_pgid: u32) -> std::io::Result<StepGuard> {
            Ok(StepGuard)
        }
    }
}

pub(crate) use imp::StepGuard;
