//! SPEC.md "depth": scopes nest to any depth. A chain of 100,000 nested
//! scopes, each opened inside a task of the one above (a recursive walk that
//! spawns per level), is cancelled, shut down, dropped and snapshotted on a multi-thread
//! runtime with Tokio's default worker stack, with no stack overflow; a
//! snapshot's text stays bounded.
//!
//! Synchronisation is explicit: the leaf says when it runs, and every level's
//! drop guard counts down to a signal. The only timeouts are hang guards.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_scope::{with_scope, BoxError, Reason, Scope, ScopeSnapshot};
use tokio::sync::Notify;

const DEPTH: usize = 100_000;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// What every level of a chain reports.
#[derive(Default)]
struct Chain {
    /// The leaf task runs.
    reached: Notify,
    /// Levels whose task future still exists.
    live: AtomicUsize,
    /// Notified when `live` drops to zero.
    gone: Notify,
    /// Nested scopes that ended with `Reason::Cancelled`.
    cancelled: AtomicUsize,
    /// Nested scopes that ended `Ok`.
    ok: AtomicUsize,
}

/// Counts a level's task in `live` until it is dropped.
struct Level(Arc<Chain>);

impl Level {
    fn new(chain: &Arc<Chain>) -> Level {
        chain.live.fetch_add(1, SeqCst);
        Level(chain.clone())
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, SeqCst) == 1 {
            self.0.gone.notify_one();
        }
    }
}

/// One nested scope of the chain, with `below` more under it; the leaf
/// task waits for its token. With a grace period every level's task is
/// signalled, not aborted, and returns its nested scope's result.
fn level(below: usize, grace: Duration, chain: Arc<Chain>) -> BoxFuture {
    Box::pin(async move {
        let _level = Level::new(&chain);
        let result = Scope::builder()
            .grace(grace)
            .run(|scope| {
                let chain = chain.clone();
                async move {
                    if below == 0 {
                        scope.spawn(move |token| async move {
                            chain.reached.notify_one();
                            token.cancelled().await;
                            Ok::<_, BoxError>(())
                        });
                    } else {
                        scope.spawn(move |_| level(below - 1, grace, chain));
                    }
                    Ok::<_, BoxError>(())
                }
            })
            .await;
        match &result {
            Ok(()) => {
                chain.ok.fetch_add(1, SeqCst);
            }
            Err(error) if matches!(error.reason(), Reason::Cancelled) => {
                chain.cancelled.fetch_add(1, SeqCst);
            }
            Err(_) => {}
        }
        Ok(())
    })
}

/// Guards against a hang (real time: the runtime has worker threads).
async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(600), fut)
        .await
        .expect("the chain never finished")
}

/// Cancels the root once the leaf runs; returns the root's error.
async fn cancel_root(
    grace: Duration,
    chain: &Arc<Chain>,
    by_signal: bool,
) -> async_scope::ScopeError {
    let c = chain.clone();
    within(Scope::builder().grace(grace).run(|scope| async move {
        let first = c.clone();
        scope.spawn(move |_| level(DEPTH - 1, grace, first));
        c.reached.notified().await;
        if by_signal {
            scope.signal().cancel();
        } else {
            scope.cancel();
        }
        Ok::<_, BoxError>(())
    }))
    .await
    .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_root_of_100_000_nested_scopes_aborts_every_level() {
    let chain = Arc::new(Chain::default());
    let err = cancel_root(Duration::ZERO, &chain, false).await;
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(
        chain.live.load(SeqCst),
        0,
        "a scope never ends before its tasks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_grace_period_every_one_of_100_000_nested_scopes_ends_cancelled() {
    let chain = Arc::new(Chain::default());
    let err = cancel_root(Duration::from_secs(3600), &chain, false).await;
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(
        chain.cancelled.load(SeqCst),
        DEPTH,
        "every nested scope ended Cancelled"
    );
    assert_eq!(chain.live.load(SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_root_of_100_000_nested_scopes_drops_every_level() {
    let chain = Arc::new(Chain::default());
    let c = chain.clone();
    let root = tokio::spawn(with_scope(|scope| async move {
        scope.spawn(move |_| level(DEPTH - 1, Duration::ZERO, c));
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(())
    }));
    within(chain.reached.notified()).await;
    root.abort();
    assert!(root.await.unwrap_err().is_cancelled());
    within(async {
        while chain.live.load(SeqCst) > 0 {
            chain.gone.notified().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_100_000_nested_scopes_holds_64_levels_and_counts_the_rest() {
    let chain = Arc::new(Chain::default());
    let c = chain.clone();
    within(with_scope(|scope| async move {
        let first = c.clone();
        scope.spawn(move |_| level(DEPTH - 1, Duration::ZERO, first));
        c.reached.notified().await;

        let snapshot = scope.snapshot();
        // Walk down the chain: each level's one task runs the next scope.
        let mut levels = 1;
        let mut at: &ScopeSnapshot = &snapshot;
        while let Some(next) = at.tasks().first().and_then(|task| task.scopes().first()) {
            assert_eq!(at.elided(), 0);
            at = next;
            levels += 1;
        }
        assert_eq!(levels, ScopeSnapshot::MAX_DEPTH);
        // The root and DEPTH nested scopes: the last level counts the rest.
        assert_eq!(at.elided(), DEPTH + 1 - ScopeSnapshot::MAX_DEPTH);

        let text = snapshot.to_string();
        assert!(text.len() < 64 * 1024, "{} bytes", text.len());
        let more = format!("… {} nested scopes below not shown", at.elided());
        assert!(text.contains(&more), "{text}");
        let debug = format!("{snapshot:?}");
        assert!(debug.len() < 1024 * 1024, "{} bytes", debug.len());
        assert!(format!("{scope:?}").contains(&more));

        scope.cancel();
        Ok::<_, BoxError>(())
    }))
    .await
    .unwrap_err();
    assert_eq!(chain.live.load(SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_chain_through_the_signal_by_hand_reaches_every_level() {
    let chain = Arc::new(Chain::default());
    let err = cancel_root(Duration::from_secs(3600), &chain, true).await;
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(chain.cancelled.load(SeqCst), DEPTH);
    assert_eq!(chain.live.load(SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_the_root_of_100_000_nested_scopes_ends_every_level_ok() {
    let chain = Arc::new(Chain::default());
    let c = chain.clone();
    let grace = Duration::from_secs(3600);
    within(Scope::builder().grace(grace).run(|scope| async move {
        let first = c.clone();
        scope.spawn(move |_| level(DEPTH - 1, grace, first));
        c.reached.notified().await;
        scope.shutdown();
        Ok::<_, BoxError>(())
    }))
    .await
    .expect("a shutdown is not a failure");
    assert_eq!(
        chain.ok.load(SeqCst),
        DEPTH,
        "every nested scope was shut down and ended Ok"
    );
    assert_eq!(chain.live.load(SeqCst), 0);
}
