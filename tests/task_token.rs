//! SPEC.md "a task's token" and "`scope.signal().cancel()`": a task's token
//! is its own, a child of its scope's signal. Cancelling it (through its
//! handle, by the task itself, or by anything it handed the token to)
//! reaches that task alone, whatever the grace period; cancelling the scope's
//! signal by hand is `scope.cancel()`, noticed at once.
//!
//! Time is paused, so "at once" and "after the grace period" are exact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, CancellationToken, Reason, Scope, TaskError};
use tokio::sync::oneshot;
use tokio::time::Instant;

mod common;
use common::{guard, guard_for, Flag, Res};

const GRACES: [Duration; 2] = [Duration::ZERO, Duration::from_secs(10)];

/// A task that waits for its token, then ends with `Ok(label)`.
fn waits_for_its_token(
    label: &'static str,
) -> impl FnOnce(
    CancellationToken,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res<&'static str>> + Send>>
       + Send
       + 'static {
    move |token| {
        Box::pin(async move {
            token.cancelled().await;
            Ok(label)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_cancelling_its_own_token_reaches_no_sibling_and_not_the_scope() {
    for grace in GRACES {
        guard(async move {
            let out = Scope::builder()
                .grace(grace)
                .run(|scope| async move {
                    let sibling = scope.spawn(|token| async move {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Res::Ok(token.is_cancelled())
                    });
                    let (started, running) = oneshot::channel();
                    let nested_sibling = scope.spawn(move |_| async move {
                        with_scope(|nested| async move {
                            let inner = nested.spawn(waits_for_its_token("nested"));
                            started.send(()).unwrap();
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            assert!(
                                !inner.is_finished(),
                                "a sibling's nested task was cancelled"
                            );
                            inner.cancel();
                            Res::Ok(inner.await.is_err())
                        })
                        .await
                    });
                    running.await.unwrap();
                    let selfish = scope.spawn(|token| async move {
                        token.cancel();
                        // Not aborted: its own cancellation is its business.
                        tokio::task::yield_now().await;
                        Res::Ok(token.is_cancelled())
                    });
                    assert!(selfish.await?, "the task's token was cancelled");
                    assert!(
                        !scope.is_cancelled(),
                        "the scope was cancelled (grace {grace:?})"
                    );
                    assert!(!scope.signal().is_cancelled());
                    assert!(!sibling.await?, "a sibling's token was cancelled");
                    assert!(nested_sibling.await?);
                    Res::Ok("done")
                })
                .await;
            assert_eq!(out.unwrap(), "done", "grace {grace:?}");
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_component_cancelling_a_task_token_when_done_reaches_that_task_alone() {
    guard(async move {
        with_scope(|scope| async move {
            let sibling = scope.spawn(waits_for_its_token("sibling"));
            let worker = scope.spawn(|token| async move {
                // A component that cancels the token it was given when done.
                let component = token.clone().drop_guard();
                drop(component);
                Res::Ok(token.is_cancelled())
            });
            assert!(worker.await?);
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(!sibling.is_finished(), "the sibling saw the worker's token");
            sibling.cancel();
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn every_task_gets_a_token_of_its_own_that_its_scope_cancels() {
    guard(async move {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let t = tokens.clone();
        let err = with_scope(|scope| async move {
            for _ in 0..3 {
                let t = t.clone();
                scope.spawn(move |token| {
                    t.lock().unwrap().push(token);
                    std::future::pending::<Res>()
                });
            }
            tokio::task::yield_now().await;
            let tokens = t.lock().unwrap().clone();
            assert_eq!(tokens.len(), 3);
            tokens[0].cancel();
            assert!(!tokens[1].is_cancelled() && !tokens[2].is_cancelled());
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert!(tokens
            .lock()
            .unwrap()
            .iter()
            .all(CancellationToken::is_cancelled));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_without_grace_cancels_its_token_then_aborts_at_once() {
    guard(async move {
        with_scope(|scope| async move {
            let sibling = scope.spawn(waits_for_its_token("sibling"));
            let (tx, rx) = oneshot::channel();
            let victim = scope.spawn(move |token| async move {
                tx.send(token).unwrap();
                std::future::pending::<Res>().await
            });
            let token = rx.await.unwrap();
            let at = Instant::now();
            victim.cancel();
            assert!(token.is_cancelled(), "its token is cancelled at once");
            assert!(matches!(victim.await, Err(TaskError::Cancelled)));
            assert_eq!(Instant::now(), at, "aborted at once");
            assert!(!sibling.is_finished() && !scope.is_cancelled());
            sibling.cancel();
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_after_the_task_cancelled_its_own_token_still_aborts_after_grace() {
    guard(async move {
        let grace = Duration::from_secs(10);
        Scope::builder()
            .grace(grace)
            .run(|scope| async move {
                let victim = scope.spawn(|token| async move {
                    token.cancel();
                    std::future::pending::<()>().await; // ignores its token
                    Res::Ok(())
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert!(
                    !victim.is_finished(),
                    "cancelling its own token did not abort it"
                );
                let at = Instant::now();
                victim.cancel();
                assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                assert_eq!(Instant::now(), at + grace);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn signal_cancel_by_hand_is_scope_cancel_noticed_at_once() {
    for grace in GRACES {
        guard(async move {
            let called = Flag::default();
            let c = called.clone();
            let err = Scope::builder()
                .grace(grace)
                .run(|scope| async move {
                    let hung = scope.spawn(|_| std::future::pending::<Res>());
                    let at = Instant::now();
                    scope.signal().cancel();
                    // No await in between: the run loop has not run yet.
                    assert!(scope.is_cancelled());
                    let late = scope.spawn(move |_| {
                        c.set();
                        async { Res::Ok(()) }
                    });
                    assert!(matches!(late.await, Err(TaskError::Cancelled)));
                    assert!(matches!(hung.await, Err(TaskError::Cancelled)));
                    assert_eq!(Instant::now(), at + grace, "aborted after the grace period");
                    Res::Ok(())
                })
                .await
                .unwrap_err();
            assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
            assert!(!called.get(), "a spawn after the signal ran its closure");
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn signal_cancel_by_hand_cancels_nested_scopes() {
    guard(async move {
        let err = with_scope(|scope| async move {
            let (started, running) = oneshot::channel();
            let nested = scope.spawn(move |_| async move {
                Scope::builder()
                    .grace(Duration::from_secs(3600))
                    .run(|nested| async move {
                        let inner = nested.spawn(waits_for_its_token("inner"));
                        started.send(()).unwrap();
                        Res::Ok(inner.await?)
                    })
                    .await
            });
            running.await.unwrap();
            scope.signal().cancel();
            // Zero grace here: the task running the nested scope is aborted.
            assert!(matches!(nested.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn signal_cancel_by_hand_then_shutdown_is_still_a_cancel() {
    guard(async move {
        let err = with_scope(|scope| async move {
            scope.signal().cancel();
            scope.shutdown(); // the cancel came first: it names the reason
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

// `signal()` taken by a task (not the body) and cancelled there: the run
// loop, which watches the signal only once it has been handed out, must
// notice it whether the body has returned or still waits.

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_signal_taken_and_cancelled_by_a_task_after_the_body_returned_cancels_the_scope() {
    let err = guard(with_scope(|scope| async move {
        let _hung = scope.spawn(|_| std::future::pending::<Res>());
        scope.spawn(|_| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Scope::current().unwrap().signal().cancel();
            Res::Ok(())
        });
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_taken_and_cancelled_by_a_task_on_another_worker_while_the_body_waits() {
    let err = guard_for(
        Duration::from_secs(60),
        with_scope(|scope| async move {
            let hung = scope.spawn(|_| std::future::pending::<Res>());
            scope.spawn(|_| async move {
                tokio::task::yield_now().await;
                Scope::current().unwrap().signal().cancel();
                Res::Ok(())
            });
            assert!(matches!(hung.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_signal_handed_out_early_and_cancelled_later_by_a_task_cancels_the_scope() {
    let err = guard(with_scope(|scope| async move {
        let signal = scope.signal();
        let hung = scope.spawn(|_| std::future::pending::<Res>());
        scope.spawn(move |_| async move {
            tokio::task::yield_now().await;
            signal.cancel();
            Res::Ok(())
        });
        assert!(matches!(hung.await, Err(TaskError::Cancelled)));
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
}
