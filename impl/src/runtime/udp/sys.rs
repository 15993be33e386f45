//! The few POSIX calls the UDP engine needs that `std` lacks, declared
//! directly (the C library is linked anyway): a node killing itself for
//! `--kill`, the supervisor noticing SIGTERM and SIGINT so that it can clean
//! up, and whether a process still exists or is stopped.

use std::sync::atomic::{AtomicI32, Ordering};

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
/// `signal`'s "error" return.
const SIG_ERR: usize = usize::MAX;
/// `EPERM`: the process exists but belongs to someone else.
const EPERM: i32 = 1;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn signal(signum: i32, handler: usize) -> usize;
}

/// The last termination signal received (0: none).
static TERMINATED_BY: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_terminate(sig: i32) {
    // Async-signal-safe: one atomic store.
    TERMINATED_BY.store(sig, Ordering::SeqCst);
}

/// SIGKILLs this process: no destructor, no flush, no clean-up.
pub fn kill_self() -> ! {
    // SAFETY: kill(2) with our own pid has no memory-safety preconditions.
    unsafe {
        kill(std::process::id() as i32, SIGKILL);
    }
    // The signal is delivered before kill returns; this is never reached.
    loop {
        std::thread::park();
    }
}

/// From now on SIGTERM and SIGINT only set a flag that [`terminated`]
/// reads: the supervisor polls it, stops its nodes and removes its run
/// directory, then exits.
pub fn catch_terminate() {
    for sig in [SIGTERM, SIGINT] {
        // SAFETY: the handler only stores into an atomic, which is
        // async-signal-safe; `signal` has no other preconditions.
        let old = unsafe { signal(sig, on_terminate as extern "C" fn(i32) as usize) };
        debug_assert_ne!(old, SIG_ERR);
    }
}

/// The termination signal received since [`catch_terminate`], if any.
pub fn terminated() -> Option<i32> {
    match TERMINATED_BY.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Whether process `pid` exists (ours or not).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(EPERM)
}

/// Whether process `pid` is stopped (SIGSTOP, SIGTSTP, a debugger), as
/// `/proc/PID/stat` says; `false` where that cannot be read.
pub fn stopped(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `PID (COMMAND) STATE …`, where COMMAND may hold anything, `)` too.
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
    matches!(state, Some('T' | 't'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_that_exist_and_that_do_not() {
        assert!(pid_alive(std::process::id()));
        assert!(pid_alive(1), "init exists (and is not ours)");
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        // Beyond Linux's largest pid (4,194,304).
        assert!(!pid_alive(4_194_305));
    }

    #[test]
    fn a_stopped_process_is_seen_stopped() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(!stopped(pid));
        let signal = |sig: &str| {
            let ok = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok);
        };
        signal("-STOP");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !stopped(pid) {
            assert!(std::time::Instant::now() < deadline, "never seen stopped");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        signal("-CONT");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!stopped(pid), "gone");
    }
}
