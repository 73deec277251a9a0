//! `scope.spawn_blocking(f)` (SPEC.md "Long-lived scopes (servers) and
//! blocking work"): a Normal task on Tokio's blocking pool, never aborted.
//!
//! Real time: the closures run on Tokio's blocking pool; channels the test
//! controls keep them running until it says so.

use std::time::Duration;

use async_scope::{with_scope, Policy, Scope, TaskError, TaskKind};
use tokio::sync::oneshot;

use crate::common::{self, guard_for, settle, Flag, Live, Res};
use crate::support::*;

#[tokio::test]
async fn spawn_blocking_yields_its_value_through_the_handle() {
    guard_for(REAL_TIME_LIMIT, async {
        let value = with_scope(|scope| async move {
            let thread = std::thread::current().id();
            let digest = scope.spawn_blocking(move |_| {
                assert_ne!(
                    std::thread::current().id(),
                    thread,
                    "not on the blocking pool"
                );
                Res::Ok((0..1_000u64).sum::<u64>())
            });
            Res::Ok(digest.await?)
        })
        .await
        .unwrap();
        assert_eq!(value, 499_500);
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_err_under_cancel_fails_the_scope_with_task_failed() {
    guard_for(REAL_TIME_LIMIT, async {
        let err = with_scope(|scope| async move {
            let sibling = scope.spawn(|token| async move {
                token.cancelled().await;
                Res::Ok(())
            });
            scope.spawn_blocking(|_| Err::<(), _>("disk full"));
            // Cancelled, or Ok if it ended between its token and the abort.
            let _ = sibling.await;
            assert!(scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert_eq!(failure.error().to_string(), "disk full");
        assert_eq!(failure.kind(), TaskKind::Normal);
        assert_eq!(messages(err.failures()), ["disk full"]);
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_err_under_supervise_goes_to_the_handler_and_errors() {
    guard_for(REAL_TIME_LIMIT, async {
        let handled = Seen::default();
        supervised(&handled)
            .run(|scope| async move {
                let failed = scope.spawn_blocking(|_| Err::<(), _>("disk full"));
                assert!(matches!(failed.await, Err(TaskError::Failed(_))));
                scope.wait_for_completion().await?;
                assert_eq!(messages(&scope.errors()), ["disk full"]);
                assert_eq!(scope.errors()[0].kind(), TaskKind::Normal);
                assert!(!scope.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(handled.get(), ["disk full"]);
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_panic_is_task_error_panicked() {
    common::quiet_panics(ON_PURPOSE);
    guard_for(REAL_TIME_LIMIT, async {
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let panicked =
                    scope.spawn_blocking(|_| -> Res { panic!("{ON_PURPOSE}: blocking") });
                match panicked.await {
                    Err(TaskError::Panicked(message)) => {
                        assert!(message.contains("blocking"), "{message}");
                    }
                    other => panic!("expected Panicked, got {other:?}"),
                }
                scope.wait_for_completion().await?;
                let errors = scope.errors();
                assert_eq!(errors.len(), 1);
                assert!(matches!(errors[0].error(), TaskError::Panicked(_)));
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_on_cancel_its_token_is_cancelled_it_is_not_aborted_and_the_scope_waits_for_it(
) {
    guard_for(REAL_TIME_LIMIT, async {
        let (saw_cancel_tx, saw_cancel_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let end = BlockingEnd::default();
        let r = end.returned.clone();
        let scope = end.clone().watch(with_scope(|scope| async move {
            let (started_tx, started_rx) = oneshot::channel::<()>();
            let chunk = scope.spawn_blocking(move |token| {
                started_tx.send(()).unwrap();
                futures::executor::block_on(token.cancelled());
                saw_cancel_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                r.set();
                Res::Ok("finished its chunk")
            });
            started_rx.await?;
            scope.cancel();
            drop(chunk);
            Res::Ok(())
        }));
        let controller = async {
            saw_cancel_rx.await.expect("its token was never cancelled");
            settle().await;
            assert!(
                !end.ended.get(),
                "the scope ended while its blocking task ran"
            );
            release_tx.send(()).unwrap();
        };
        let ((result, returned_before_end), ()) = tokio::join!(scope, controller);
        assert!(
            returned_before_end,
            "the scope ended before its blocking task returned"
        );
        assert!(result.unwrap_err().is_cancelled());
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_the_scope_waits_for_it_after_its_body_returned() {
    guard_for(REAL_TIME_LIMIT, async {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let end = BlockingEnd::default();
        let r = end.returned.clone();
        let scope = end.clone().watch(with_scope(|scope| async move {
            scope.spawn_blocking(move |_| {
                release_rx.recv().unwrap();
                r.set();
                Res::Ok(())
            });
            Res::Ok(())
        }));
        let controller = async {
            settle().await;
            assert!(
                !end.ended.get(),
                "the scope ended while its blocking task ran"
            );
            release_tx.send(()).unwrap();
        };
        let ((result, returned_before_end), ()) = tokio::join!(scope, controller);
        result.unwrap();
        assert!(returned_before_end);
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_is_refused_after_cancel_its_closure_never_called() {
    guard_for(REAL_TIME_LIMIT, async {
        let called = Flag::default();
        let c = called.clone();
        let err = with_scope(|scope| async move {
            scope.cancel();
            let refused = scope.spawn_blocking(move |_| {
                c.set();
                Res::Ok(())
            });
            assert!(matches!(refused.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(err.is_cancelled());
        assert!(!called.get());

        // And through a handle kept after its scope ended.
        let kept = with_scope(|scope| async move { Res::Ok(scope) })
            .await
            .unwrap();
        let called = Flag::default();
        let c = called.clone();
        let refused = kept.spawn_blocking(move |_| {
            c.set();
            Res::Ok(())
        });
        assert!(matches!(refused.await, Err(TaskError::Cancelled)));
        assert!(!called.get());
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_handle_cancel_cancels_its_token_alone() {
    guard_for(REAL_TIME_LIMIT, async {
        with_scope(|scope| async move {
            let (started_tx, started_rx) = oneshot::channel::<()>();
            let sibling = scope.spawn(|token| async move {
                tokio::task::yield_now().await;
                Res::Ok(token.is_cancelled())
            });
            let blocking = scope.spawn_blocking(move |token| {
                started_tx.send(()).unwrap();
                // Returns only once its token is cancelled.
                futures::executor::block_on(token.cancelled());
                Res::Ok("stopped when asked")
            });
            started_rx.await?;
            blocking.cancel();
            scope.wait_for_completion().await?;
            assert!(!sibling.await?, "a sibling's token was cancelled");
            assert!(!scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .expect("a task cancelled through its handle is not a failure");
    })
    .await;
}

#[tokio::test]
async fn spawn_blocking_takes_a_max_concurrency_slot_in_turn() {
    guard_for(REAL_TIME_LIMIT, async {
        let live = Live::default();
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| {
                let live = live.clone();
                async move {
                    let holder = scope.spawn(live.pending());
                    live.reaches(1).await;
                    let called = Flag::default();
                    let c = called.clone();
                    let blocking = scope.spawn_blocking(move |_| {
                        c.set();
                        Res::Ok(5)
                    });
                    // Give the blocking pool every chance to run it: it must
                    // wait for the slot the holder has.
                    for _ in 0..20 {
                        tokio::task::yield_now().await;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    assert!(!called.get(), "ran without a slot");
                    holder.cancel();
                    assert_eq!(blocking.await?, 5);
                    assert!(called.get());
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
    })
    .await;
}
