//! Helpers shared by the integration tests: a result alias, a paused-time
//! guard against hangs, live-task probes, a flag, and a panic hook that keeps
//! a test's own panics quiet.
#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use async_scope::{BoxError, CancellationToken};

pub type Res<T = ()> = Result<T, BoxError>;

/// Awaits a test's body, failing instead of hanging if it never ends: time is
/// paused, so the hour passes as soon as nothing else can run.
pub async fn guard<F: std::future::Future>(body: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(3600), body)
        .await
        .expect("the test never ended: a scope or handle waited forever")
}

/// Counts tasks whose future still exists: each task holds a [`Probe`].
#[derive(Clone, Default)]
pub struct Live(pub Arc<AtomicUsize>);

impl Live {
    /// A probe for one task; on drop it records whether `token` was cancelled by then.
    pub fn probe(&self, token: &CancellationToken, cancelled_at_drop: &Flag) -> Probe {
        self.0.fetch_add(1, SeqCst);
        Probe {
            live: self.0.clone(),
            token: token.clone(),
            cancelled_at_drop: cancelled_at_drop.clone(),
        }
    }

    pub fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

pub struct Probe {
    live: Arc<AtomicUsize>,
    token: CancellationToken,
    cancelled_at_drop: Flag,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.token.is_cancelled() {
            self.cancelled_at_drop.set();
        }
        self.live.fetch_sub(1, SeqCst);
    }
}

#[derive(Clone, Default)]
pub struct Flag(pub Arc<AtomicBool>);

impl Flag {
    pub fn set(&self) {
        self.0.store(true, SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// Lets every runnable task run (on a current_thread runtime).
pub async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Keeps panics whose message starts with `prefix` (the test's own, on
/// purpose) out of the output; every other panic is printed as usual. The
/// first call in a test binary installs the hook: each binary uses one prefix.
pub fn quiet_panics(prefix: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with(prefix) {
                default(info);
            }
        }));
    });
}
