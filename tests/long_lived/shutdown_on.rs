//! `ScopeBuilder::shutdown_on(signal)` (SPEC.md "Long-lived scopes (servers)
//! and blocking work"): the scope shuts down when the signal completes, and
//! the signal's future is dropped when the scope ends.

use std::time::Duration;

use async_scope::{Policy, Reason, Scope, ScopeState, TaskError};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::common::{guard, settle, Flag, Live, Res};
use crate::support::*;

#[tokio::test(start_paused = true)]
async fn shutdown_on_shuts_the_scope_down_when_the_signal_completes_and_it_ends_ok() {
    guard(async {
        let (stop, stopped) = oneshot::channel::<()>();
        let live = Live::default();
        let value = Scope::builder()
            .policy(Policy::Supervise)
            .shutdown_on(stopped)
            .run(|scope| {
                let live = live.clone();
                async move {
                    let connection = scope.spawn(live.pending());
                    live.reaches(1).await;
                    settle().await;
                    assert!(!scope.is_cancelled(), "shut down before the signal");
                    stop.send(()).unwrap();
                    scope.cancelled().await;
                    assert_eq!(scope.snapshot().state(), ScopeState::ShuttingDown);
                    assert!(matches!(connection.await, Err(TaskError::Cancelled)));
                    assert!(scope.spawn(|_| async { Res::Ok(()) }).await.is_err());
                    Res::Ok("stopped accepting")
                }
            })
            .await
            .expect("a shutdown is not a failure");
        assert_eq!(value, "stopped accepting");
        assert_eq!(live.count(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_on_a_timer_shuts_down_exactly_when_it_fires() {
    guard(async {
        let start = Instant::now();
        let after = Duration::from_secs(30);
        let at = Scope::builder()
            .grace(Duration::from_secs(1))
            .shutdown_on(tokio::time::sleep(after))
            .run(|scope| async move {
                let token_at = scope.spawn(|token| async move {
                    token.cancelled().await;
                    Res::Ok(Instant::now())
                });
                Res::Ok(token_at.await?)
            })
            .await
            .unwrap();
        assert_eq!(at, start + after);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_on_drops_the_signal_when_the_scope_ends_even_if_it_never_completed() {
    guard(async {
        // The scope ends Ok.
        let dropped = Flag::default();
        let signal = never_completes(&dropped);
        let value = Scope::builder()
            .shutdown_on(signal)
            .run(|scope| {
                let dropped = dropped.clone();
                async move {
                    scope.spawn(|_| async {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Res::Ok(())
                    });
                    settle().await;
                    assert!(
                        !dropped.get(),
                        "the signal was dropped while the scope runs"
                    );
                    Res::Ok(3)
                }
            })
            .await
            .unwrap();
        assert_eq!(value, 3);
        assert!(dropped.get(), "the signal outlived its scope");

        // The scope fails.
        let dropped = Flag::default();
        let signal = never_completes(&dropped);
        let err = Scope::builder()
            .shutdown_on(signal)
            .run(|scope| async move {
                scope.spawn(fails("broken"));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)));
        assert!(dropped.get(), "the signal outlived its failed scope");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_on_drops_the_signal_when_the_scopes_future_is_dropped() {
    guard(async {
        let dropped = Flag::default();
        let signal = never_completes(&dropped);
        let run = Scope::builder()
            .shutdown_on(signal)
            .run(|_| std::future::pending::<Res>());
        let outcome = tokio::time::timeout(Duration::from_secs(1), run).await;
        assert!(outcome.is_err(), "the pending scope ended");
        assert!(dropped.get(), "the signal outlived its dropped scope");
    })
    .await;
}
