//! `scope.cancelled()` (SPEC.md "Long-lived scopes (servers) and blocking
//! work"): completes once the scope's signal is cancelled, whatever cancelled
//! it, and owns what it needs.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, Policy, Scope, TaskError};
use futures::poll;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::common::{guard, Res};
use crate::support::*;

/// Runs a scope whose body waits on `scope.cancelled()` after `stop` does
/// whatever it does; returns when that completed, relative to the start.
async fn cancelled_completes_on<S, Fut>(builder: async_scope::ScopeBuilder, stop: S) -> Duration
where
    S: FnOnce(Scope) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let at = Arc::new(Mutex::new(None));
    let at2 = at.clone();
    let _ = builder
        .run(|scope| async move {
            let stopped = scope.cancelled();
            let mut stopped = pin!(stopped);
            assert!(
                poll!(stopped.as_mut()).is_pending(),
                "completed while the scope runs"
            );
            stop(scope.clone()).await;
            stopped.await;
            *at2.lock().unwrap() = Some(Instant::now());
            Res::Ok(())
        })
        .await;
    let at = at
        .lock()
        .unwrap()
        .expect("the body did not see cancelled() complete");
    at - start
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_cancel() {
    guard(async {
        let at =
            cancelled_completes_on(Scope::builder(), |scope| async move { scope.cancel() }).await;
        assert_eq!(at, Duration::ZERO);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_shutdown() {
    guard(async {
        let at =
            cancelled_completes_on(Scope::builder(), |scope| async move { scope.shutdown() }).await;
        assert_eq!(at, Duration::ZERO);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_signal_cancel() {
    guard(async {
        let at = cancelled_completes_on(Scope::builder(), |scope| async move {
            scope.signal().cancel();
        })
        .await;
        assert_eq!(at, Duration::ZERO);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_a_failure() {
    guard(async {
        // A Normal task under Cancel.
        let at = cancelled_completes_on(Scope::builder(), |scope| async move {
            scope.spawn(|_| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Err::<(), _>("broken")
            });
        })
        .await;
        assert_eq!(at, Duration::from_secs(2));
        // A Critical task under Supervise.
        let at = cancelled_completes_on(
            Scope::builder().policy(Policy::Supervise),
            |scope| async move {
                scope.spawn_critical(|_| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Err::<(), _>("broken")
                });
            },
        )
        .await;
        assert_eq!(at, Duration::from_secs(3));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_the_timeout() {
    guard(async {
        let at = cancelled_completes_on(
            Scope::builder().timeout(Duration::from_secs(4)),
            |_| async {},
        )
        .await;
        assert_eq!(at, Duration::from_secs(4));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_completes_on_an_ancestors_cancel_or_shutdown() {
    guard(async {
        for shutdown in [false, true] {
            let start = Instant::now();
            let saw = Arc::new(Mutex::new(None));
            let nested_saw = saw.clone();
            // A grace period, for the task to hand back its nested scope's result.
            let outer = Scope::builder()
                .grace(Duration::from_secs(1))
                .run(|outer| async move {
                    let (ready_tx, ready_rx) = oneshot::channel();
                    let child = outer.spawn(move |_| async move {
                        let nested = with_scope(|nested| async move {
                            let stopped = nested.cancelled();
                            ready_tx.send(()).unwrap();
                            stopped.await;
                            *nested_saw.lock().unwrap() = Some(Instant::now());
                            Res::Ok(())
                        })
                        .await;
                        Res::Ok(nested)
                    });
                    ready_rx.await?;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if shutdown {
                        outer.shutdown();
                    } else {
                        outer.cancel();
                    }
                    Res::Ok(child.await?)
                })
                .await;
            assert_eq!(
                *saw.lock().unwrap(),
                Some(start + Duration::from_secs(5)),
                "the nested scope's cancelled() did not complete at the ancestor's {}",
                if shutdown { "shutdown" } else { "cancel" }
            );
            if shutdown {
                let nested = outer.expect("a shutdown is not a failure");
                nested.expect("a shut-down nested scope ends Ok");
            } else {
                assert!(outer.unwrap_err().is_cancelled());
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_stays_pending_while_the_scope_runs() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let stopped = scope.cancelled();
                let mut stopped = pin!(stopped);
                assert!(poll!(stopped.as_mut()).is_pending());
                // A supervised failure, an optional failure, a task cancelled
                // through its handle, a task cancelling its own token: none
                // cancels the scope.
                scope.spawn(fails("supervised")).await.unwrap_err();
                assert_eq!(scope.spawn_optional(fails("optional")).await, None);
                let one = scope.spawn(|_| std::future::pending::<Res>());
                one.cancel();
                assert!(matches!(one.await, Err(TaskError::Cancelled)));
                scope
                    .spawn(|token| async move {
                        token.cancel();
                        Res::Ok(())
                    })
                    .await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                assert!(poll!(stopped.as_mut()).is_pending());
                assert!(!scope.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_is_owned_usable_in_select_without_a_temporary_and_in_a_static_task() {
    guard(async {
        let ticks = Scope::builder()
            .shutdown_on(tokio::time::sleep(Duration::from_millis(2500)))
            .run(|scope| async move {
                // Owned: it can go to a 'static task, away from the handle.
                let watcher = tokio::spawn(scope.cancelled());
                // And stand in a select! arm as written, in a loop.
                let mut ticks = 0;
                let mut interval = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        () = scope.cancelled() => break,
                        _ = interval.tick() => ticks += 1,
                    }
                }
                watcher.await?;
                Res::Ok(ticks)
            })
            .await
            .unwrap();
        // Ticks at 0 s, 1 s and 2 s; the shutdown at 2.5 s.
        assert_eq!(ticks, 3);
    })
    .await;
}
