//! Result checks and the counters they read: tasks parked, pending tasks
//! dropped, when the failing task failed. A failed check is recorded, printed,
//! and makes the bench exit non-zero at the end, never silently.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::peers::Peer;

/// Tasks that reached their pending point.
pub(crate) static PARKED: AtomicUsize = AtomicUsize::new(0);
/// Pending tasks whose future was dropped.
pub(crate) static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// How many tasks must park before `ALL_PARKED` is notified.
pub(crate) static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
pub(crate) static ALL_PARKED: Notify = Notify::const_new();
/// When the failing task of `fail_fast_cancel` failed.
pub(crate) static FAILED_AT: Mutex<Option<Instant>> = Mutex::new(None);

pub(crate) fn reset_counters(target: usize) {
    PARKED.store(0, SeqCst);
    DROPPED.store(0, SeqCst);
    TARGET.store(target, SeqCst);
    *FAILED_AT.lock().unwrap() = None;
}

/// Counts its own drop: created with the task's future, dropped with it.
pub(crate) struct DropGuard;

impl Drop for DropGuard {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

pub(crate) fn park() {
    if PARKED.fetch_add(1, SeqCst) + 1 == TARGET.load(SeqCst) {
        ALL_PARKED.notify_one();
    }
}

static CHECK_FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a failed check; the bench goes on and exits non-zero at the end.
pub(crate) fn check(ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        let what = what();
        eprintln!("CHECK FAILED: {what}");
        CHECK_FAILURES.lock().unwrap().push(what);
    }
}

/// Checks that all `n` parked tasks were dropped when the owner got control back.
pub(crate) fn check_all_dropped(workload: &str, peer: Peer, n: usize) {
    let dropped = DROPPED.load(SeqCst);
    if dropped != n {
        // Say how late the rest were, to tell a race from a leak.
        let start = Instant::now();
        while DROPPED.load(SeqCst) != n && start.elapsed() < Duration::from_secs(2) {
            std::thread::yield_now();
        }
        let later = DROPPED.load(SeqCst);
        check(false, || {
            format!(
                "{workload} {}: {dropped} of {n} tasks dropped when the owner had control back \
                 ({later} after {:?} more)",
                peer.name(),
                start.elapsed()
            )
        });
    }
}

pub(crate) fn expected_sum(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Prints the failed checks, if any, and exits with status 1.
pub(crate) fn exit_if_failed() {
    let failures = CHECK_FAILURES.lock().unwrap();
    if !failures.is_empty() {
        eprintln!("\n{} check(s) failed:", failures.len());
        for f in failures.iter() {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
