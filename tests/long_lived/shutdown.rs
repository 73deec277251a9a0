//! `scope.shutdown()` (SPEC.md "Long-lived scopes (servers) and blocking
//! work", its first row): a graceful end, as `cancel()` but not a failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, Policy, Reason, Scope, ScopeState, TaskError, TaskKind};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::common::{guard, settle, Flag, Live, Res};
use crate::support::*;

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_scope_ok_with_the_bodys_value() {
    guard(async {
        let live = Live::default();
        let value = with_scope(|scope| {
            let live = live.clone();
            async move {
                scope.spawn(live.pending());
                scope.spawn(live.stubborn());
                live.reaches(2).await;
                scope.shutdown();
                Res::Ok(42)
            }
        })
        .await
        .expect("a shutdown is not a failure");
        assert_eq!(value, 42);
        assert_eq!(live.count(), 0, "the scope ended before its tasks");
        assert!(live.all_tokens_cancelled());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_every_tasks_token_at_once() {
    guard(async {
        let when = Arc::new(Mutex::new(Vec::new()));
        let (at, count) = Scope::builder()
            .grace(Duration::from_secs(1))
            .run(|scope| {
                let when = when.clone();
                async move {
                    let live = Live::default();
                    let mut handles = Vec::new();
                    for _ in 0..3 {
                        let (when, live) = (when.clone(), live.clone());
                        handles.push(scope.spawn(move |token| async move {
                            let _probe = live.hold();
                            token.cancelled().await;
                            when.lock().unwrap().push(Instant::now());
                            Res::Ok(())
                        }));
                    }
                    let optional = scope.spawn_optional({
                        let (when, live) = (when.clone(), live.clone());
                        move |token| async move {
                            let _probe = live.hold();
                            token.cancelled().await;
                            when.lock().unwrap().push(Instant::now());
                            Res::Ok(())
                        }
                    });
                    live.reaches(4).await;
                    tokio::time::sleep(Duration::from_secs(7)).await;
                    let at = Instant::now();
                    scope.shutdown();
                    for handle in handles {
                        handle.await?;
                    }
                    optional.await;
                    Res::Ok((at, 4))
                }
            })
            .await
            .unwrap();
        let when = when.lock().unwrap().clone();
        assert_eq!(when.len(), count);
        assert!(
            when.iter().all(|t| *t == at),
            "tokens cancelled late: {when:?} vs {at:?}"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_tasks_still_running_are_aborted_exactly_at_shutdown_plus_grace_as_cancelled_not_failures(
) {
    guard(async {
        let grace = Duration::from_secs(5);
        let live = Live::default();
        let handled = Seen::default();
        let result = supervised(&handled)
            .grace(grace)
            .run(|scope| {
                let live = live.clone();
                async move {
                    let stubborn = scope.spawn(live.stubborn());
                    let optional = scope.spawn_optional(live.stubborn());
                    let critical = scope.spawn_critical(live.stubborn());
                    live.reaches(3).await;
                    let at = Instant::now();
                    scope.shutdown();
                    assert!(matches!(stubborn.await, Err(TaskError::Cancelled)));
                    assert_eq!(
                        Instant::now(),
                        at + grace,
                        "not aborted at shutdown + grace"
                    );
                    assert_eq!(optional.await, None);
                    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
                    assert_eq!(Instant::now(), at + grace);
                    assert!(
                        scope.errors().is_empty(),
                        "a shutdown's cancellation is not a failure"
                    );
                    assert_eq!(scope.failure_count(), 0);
                    Res::Ok(())
                }
            })
            .await;
        result.expect("a shutdown is not a failure");
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled());
        assert!(
            handled.get().is_empty(),
            "the handler saw {:?}",
            handled.get()
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ends_ok_within_the_grace_period_after_shutdown_yields_its_value() {
    guard(async {
        Scope::builder()
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                let flush = scope.spawn(|token| async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Res::Ok("flushed")
                });
                settle().await;
                scope.shutdown();
                assert_eq!(flush.await.unwrap(), "flushed");
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_every_later_spawn_is_refused_without_calling_its_closure() {
    guard(async {
        let called = Flag::default();
        let value = with_scope(|scope| {
            let called = called.clone();
            async move {
                scope.shutdown();
                let normal = scope.spawn(sets(&called));
                let critical = scope.spawn_critical(sets(&called));
                let optional = scope.spawn_optional(sets(&called));
                let c = called.clone();
                let blocking = scope.spawn_blocking(move |_| {
                    c.set();
                    Res::Ok(())
                });
                let named = scope.task().name("late").spawn(sets(&called));
                assert!(matches!(normal.await, Err(TaskError::Cancelled)));
                assert!(matches!(critical.await, Err(TaskError::Cancelled)));
                assert_eq!(optional.await, None);
                assert!(matches!(blocking.await, Err(TaskError::Cancelled)));
                assert!(matches!(named.await, Err(TaskError::Cancelled)));
                assert!(scope.reserve().await.is_none());
                Res::Ok("refused")
            }
        })
        .await
        .unwrap();
        assert_eq!(value, "refused");
        assert!(!called.get(), "a refused spawn's closure was called");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_is_cancelled_is_true() {
    guard(async {
        with_scope(|scope| async move {
            assert!(!scope.is_cancelled());
            scope.shutdown();
            assert!(scope.is_cancelled());
            assert!(scope.signal().is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_twice_is_one_shutdown() {
    guard(async {
        let value = with_scope(|scope| async move {
            scope.spawn(|token| async move {
                token.cancelled().await;
                Res::Ok(())
            });
            scope.shutdown();
            scope.shutdown();
            Res::Ok(1)
        })
        .await
        .unwrap();
        assert_eq!(value, 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_shuts_down_nested_scopes_in_a_task_and_in_the_body_and_they_end_ok() {
    guard(async {
        let live = Live::default();
        let outer = Scope::builder()
            // Room for the task holding the nested scope to hand back its result.
            .grace(Duration::from_secs(10))
            .run(|outer| {
                let live = live.clone();
                async move {
                    let (ready_tx, ready_rx) = oneshot::channel::<Scope>();
                    let in_task = outer.spawn({
                        let live = live.clone();
                        move |_| async move {
                            let nested = with_scope(|nested| async move {
                                nested.spawn(live.pending());
                                ready_tx.send(nested.clone()).unwrap();
                                Res::Ok("nested in a task")
                            })
                            .await;
                            Res::Ok(nested)
                        }
                    });
                    let in_task_scope = ready_rx.await?;
                    live.reaches(1).await;
                    let outer2 = outer.clone();
                    let in_body = with_scope(|nested| async move {
                        nested.spawn(live.pending());
                        live.reaches(2).await;
                        outer2.shutdown();
                        assert!(
                            nested.is_cancelled(),
                            "the nested scope in the body was not shut down"
                        );
                        assert_eq!(nested.snapshot().state(), ScopeState::ShuttingDown);
                        assert!(
                            in_task_scope.is_cancelled(),
                            "the nested scope in a task was not shut down"
                        );
                        Res::Ok("nested in the body")
                    })
                    .await;
                    assert_eq!(
                        in_body.expect("a shut-down nested scope ends Ok"),
                        "nested in the body"
                    );
                    let in_task = in_task.await?;
                    assert_eq!(
                        in_task.expect("a shut-down nested scope ends Ok"),
                        "nested in a task"
                    );
                    Res::Ok(())
                }
            })
            .await;
        outer.unwrap();
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_nested_scope_opened_after_its_parents_shutdown_is_shut_down_too_and_ends_ok() {
    guard(async {
        with_scope(|scope| async move {
            scope.shutdown();
            let nested = with_scope(|nested| async move {
                assert!(nested.is_cancelled());
                Res::Ok("late nested")
            })
            .await;
            assert_eq!(
                nested.expect("a shut-down nested scope ends Ok"),
                "late nested"
            );
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_a_task_failure_under_cancel_still_fails_the_scope() {
    guard(async {
        let err = Scope::builder()
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                let refuses = scope.spawn(fails_when_signalled("refused to stop"));
                settle().await;
                scope.shutdown();
                assert!(matches!(refuses.await, Err(TaskError::Failed(_))));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(task_failed(&err).error().to_string(), "refused to stop");
        assert_eq!(messages(err.failures()), ["refused to stop"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_a_supervised_failure_goes_to_the_handler_and_the_scope_ends_ok() {
    guard(async {
        let handled = Seen::default();
        let value = supervised(&handled)
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                scope.spawn(fails_when_signalled("goodbye failed"));
                settle().await;
                scope.shutdown();
                scope.wait_for_completion().await?;
                assert_eq!(messages(&scope.errors()), ["goodbye failed"]);
                Res::Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        assert_eq!(handled.get(), ["goodbye failed"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_a_critical_failure_still_fails_the_scope() {
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                scope.spawn_critical(fails_when_signalled("commit aborted"));
                settle().await;
                scope.shutdown();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let failure = critical_task_failed(&err);
        assert_eq!(failure.error().to_string(), "commit aborted");
        assert_eq!(failure.kind(), TaskKind::Critical);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_the_bodys_err_still_fails_the_scope() {
    guard(async {
        let err = with_scope(|scope| async move {
            scope.shutdown();
            Err::<(), _>("body gave up")
        })
        .await
        .unwrap_err();
        let Reason::BodyFailed(error) = err.reason() else {
            panic!("expected BodyFailed, got {:?}", err.reason());
        };
        assert_eq!(error.to_string(), "body gave up");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_the_timeout_still_fails_the_scope() {
    guard(async {
        let start = Instant::now();
        let live = Live::default();
        let err = Scope::builder()
            .timeout(Duration::from_secs(10))
            .grace(Duration::from_secs(60))
            .run(|scope| {
                let live = live.clone();
                async move {
                    scope.spawn(live.stubborn());
                    live.reaches(1).await;
                    scope.shutdown();
                    Res::Ok(())
                }
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::TimedOut),
            "got {:?}",
            err.reason()
        );
        assert!(Instant::now() >= start + Duration::from_secs(10));
        assert_eq!(live.count(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_after_a_failure_keeps_the_failures_reason() {
    guard(async {
        let err = Scope::builder()
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                let failed = scope.spawn(fails("first"));
                assert!(failed.await.is_err());
                scope.shutdown();
                assert_eq!(scope.snapshot().state(), ScopeState::Cancelled);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(task_failed(&err).error().to_string(), "first");

        let err = with_scope(|scope| async move {
            scope.cancel();
            scope.shutdown();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_shut_down_scopes_snapshot_shows_shutting_down() {
    guard(async {
        let live = Live::default();
        Scope::builder()
            .grace(Duration::from_secs(5))
            .run(|scope| {
                let live = live.clone();
                async move {
                    scope.spawn(live.stubborn());
                    live.reaches(1).await;
                    assert_eq!(scope.snapshot().state(), ScopeState::Running);
                    scope.shutdown();
                    let snapshot = scope.snapshot();
                    assert_eq!(snapshot.state(), ScopeState::ShuttingDown);
                    assert!(snapshot.reason().is_none(), "a shutdown names no reason");
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn wait_for_completion_is_ok_after_a_shutdown() {
    guard(async {
        let live = Live::default();
        Scope::builder()
            .grace(Duration::from_secs(5))
            .run(|scope| {
                let live = live.clone();
                async move {
                    scope.spawn(live.stubborn());
                    scope.spawn(live.pending());
                    live.reaches(2).await;
                    scope.shutdown();
                    scope
                        .wait_for_completion()
                        .await
                        .expect("a shutdown is not a failure");
                    assert_eq!(live.count(), 0);
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
    })
    .await;
}
