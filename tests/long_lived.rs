//! Long-lived scopes (servers) and blocking work (SPEC.md, "Long-lived scopes
//! (servers) and blocking work"): `Scope::shutdown`, `ScopeBuilder::shutdown_on`,
//! `Scope::cancelled`, `retain_failures` with `failure_count`,
//! `Scope::spawn_blocking`, and backpressure through `Scope::reserve`.
//!
//! One test per rule, named after it. Time is paused wherever an instant
//! matters ("aborted exactly at shutdown + grace"); tests whose closures run
//! on Tokio's blocking pool run in real time with explicit synchronisation
//! (channels the test controls) and [`guard_for`] only turning a hang into a
//! failure.
//!
//! `a_nested_scope_opened_after_its_parents_shutdown_is_shut_down_too_and_ends_ok`
//! found an engine bug (such a scope started cancelled, `Reason::Cancelled`,
//! instead of shut down); it is fixed and the test runs.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, Policy, Reason, Scope, ScopeState, TaskError, TaskFailure, TaskKind, TaskState,
};
use futures::poll;
use tokio::sync::oneshot;
use tokio::time::Instant;

mod common;
use common::{guard, guard_for, settle, Flag, Live, Res};

// === helpers ===

/// The prefix of every panic this file causes on purpose.
const ON_PURPOSE: &str = "long_lived test panic";

/// How long a real-time test may take before it counts as hung.
const REAL_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Sets its flag when dropped.
struct SetOnDrop(Flag);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// An error handler that records every failure's message, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn handler(&self) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |failure| seen.lock().unwrap().push(failure.error().to_string())
    }

    fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The messages of `failures`, in order.
fn messages(failures: &[TaskFailure]) -> Vec<String> {
    failures.iter().map(|f| f.error().to_string()).collect()
}

/// A task that fails with `message` at once.
fn fails(
    message: impl Into<String>,
) -> impl FnOnce(async_scope::CancellationToken) -> std::future::Ready<Res> + Send + 'static {
    let message = message.into();
    move |_| std::future::ready(Err(message.into()))
}

/// A task that waits for its token, then returns `Err(message)`: a failure
/// that happens after the scope was cancelled or shut down.
fn fails_when_signalled(
    message: &'static str,
) -> impl FnOnce(async_scope::CancellationToken) -> common::Task + Send + 'static {
    move |token| {
        Box::pin(async move {
            token.cancelled().await;
            Err(message.into())
        })
    }
}

// === scope.shutdown() ===

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
        let result = Scope::builder()
            .policy(Policy::Supervise)
            .grace(grace)
            .on_error(handled.handler())
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
                let c = called.clone();
                let normal = scope.spawn(move |_| {
                    c.set();
                    async { Res::Ok(()) }
                });
                let c = called.clone();
                let critical = scope.spawn_critical(move |_| {
                    c.set();
                    async { Res::Ok(()) }
                });
                let c = called.clone();
                let optional = scope.spawn_optional(move |_| {
                    c.set();
                    async { Res::Ok(()) }
                });
                let c = called.clone();
                let blocking = scope.spawn_blocking(move |_| {
                    c.set();
                    Res::Ok(())
                });
                let c = called.clone();
                let named = scope.task().name("late").spawn(move |_| {
                    c.set();
                    async { Res::Ok(()) }
                });
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
        let Reason::TaskFailed(failure) = err.reason() else {
            panic!("expected TaskFailed, got {:?}", err.reason());
        };
        assert_eq!(failure.error().to_string(), "refused to stop");
        assert_eq!(messages(err.failures()), ["refused to stop"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_a_supervised_failure_goes_to_the_handler_and_the_scope_ends_ok() {
    guard(async {
        let handled = Seen::default();
        let value = Scope::builder()
            .policy(Policy::Supervise)
            .grace(Duration::from_secs(5))
            .on_error(handled.handler())
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
        let Reason::CriticalTaskFailed(failure) = err.reason() else {
            panic!("expected CriticalTaskFailed, got {:?}", err.reason());
        };
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
        let Reason::TaskFailed(failure) = err.reason() else {
            panic!("expected TaskFailed, got {:?}", err.reason());
        };
        assert_eq!(failure.error().to_string(), "first");

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

// === shutdown_on(signal) ===

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
        let signal = {
            let guard = SetOnDrop(dropped.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        };
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
        let signal = {
            let guard = SetOnDrop(dropped.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        };
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
        let signal = {
            let guard = SetOnDrop(dropped.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        };
        let run = Scope::builder()
            .shutdown_on(signal)
            .run(|_| std::future::pending::<Res>());
        let outcome = tokio::time::timeout(Duration::from_secs(1), run).await;
        assert!(outcome.is_err(), "the pending scope ended");
        assert!(dropped.get(), "the signal outlived its dropped scope");
    })
    .await;
}

// === scope.cancelled() ===

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

// === retain_failures(n) and failure_count() ===

/// Spawns the failures `names` one after the other, each ended before the next.
async fn fail_in_order(scope: &Scope, names: impl IntoIterator<Item = String>) {
    for name in names {
        assert!(scope.spawn(fails(name)).await.is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn retain_failures_keeps_only_the_n_most_recent_in_order() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(3)
            .run(|scope| async move {
                fail_in_order(&scope, (0..10).map(|i| format!("bad request {i}"))).await;
                assert_eq!(
                    messages(&scope.errors()),
                    ["bad request 7", "bad request 8", "bad request 9"]
                );
                assert_eq!(scope.failure_count(), 10);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_trims_scope_error_failures_too() {
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(2)
            .run(|scope| async move {
                fail_in_order(&scope, (0..5).map(|i| format!("supervised {i}"))).await;
                scope.spawn_critical(fails("critical")).await.unwrap_err();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(messages(err.failures()), ["supervised 4", "critical"]);
        assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_zero_keeps_none() {
    guard(async {
        let handled = Seen::default();
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(0)
            .on_error(handled.handler())
            .run(|scope| async move {
                fail_in_order(&scope, (0..3).map(|i| format!("lost {i}"))).await;
                assert!(scope.errors().is_empty());
                assert_eq!(scope.failure_count(), 3);
                assert!(scope
                    .snapshot()
                    .tasks()
                    .iter()
                    .all(|t| t.state() != TaskState::Failed));
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(handled.get(), ["lost 0", "lost 1", "lost 2"]);

        let err = Scope::builder()
            .retain_failures(0)
            .run(|scope| async move {
                scope.spawn(fails("decisive"));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.failures().is_empty());
        let Reason::TaskFailed(failure) = err.reason() else {
            panic!("expected TaskFailed, got {:?}", err.reason());
        };
        assert_eq!(failure.error().to_string(), "decisive");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_the_failure_that_decided_the_reason_stays_in_reason_when_trimmed() {
    guard(async {
        let err = Scope::builder()
            .retain_failures(1)
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                scope.spawn(fails_when_signalled("second"));
                scope.spawn(|token| async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Err::<(), _>("third")
                });
                settle().await;
                scope.spawn(fails("first"));
                scope.wait_for_completion().await.unwrap_err();
                assert_eq!(scope.failure_count(), 3);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let Reason::TaskFailed(failure) = err.reason() else {
            panic!("expected TaskFailed, got {:?}", err.reason());
        };
        assert_eq!(failure.error().to_string(), "first");
        assert_eq!(messages(err.failures()), ["third"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_handlers_still_see_every_failure_exactly_once() {
    guard(async {
        let handled = Seen::default();
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(2)
            .on_error(handled.handler())
            .run(|scope| async move {
                for i in 0..10 {
                    if i % 2 == 0 {
                        scope
                            .spawn(fails(format!("failure {i}")))
                            .await
                            .unwrap_err();
                    } else {
                        assert_eq!(
                            scope.spawn_optional(fails(format!("failure {i}"))).await,
                            None
                        );
                    }
                }
                assert_eq!(scope.errors().len(), 2);
                Res::Ok(())
            })
            .await
            .unwrap();
        let expected: Vec<String> = (0..10).map(|i| format!("failure {i}")).collect();
        assert_eq!(handled.get(), expected);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failure_count_counts_every_failure_of_every_kind_retained_or_not() {
    common::quiet_panics(ON_PURPOSE);
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(1)
            .run(|scope| async move {
                assert_eq!(scope.failure_count(), 0);
                scope.spawn(fails("normal")).await.unwrap_err();
                assert_eq!(scope.failure_count(), 1);
                assert_eq!(scope.spawn_optional(fails("optional")).await, None);
                assert_eq!(scope.failure_count(), 2);
                let panics = scope.spawn(|_| async {
                    if true {
                        panic!("{ON_PURPOSE}: counted");
                    }
                    Res::Ok(())
                });
                assert!(matches!(panics.await, Err(TaskError::Panicked(_))));
                assert_eq!(scope.failure_count(), 3);
                // Cancellation is not a failure.
                let cancelled = scope.spawn(|_| std::future::pending::<Res>());
                cancelled.cancel();
                cancelled.await.unwrap_err();
                assert_eq!(scope.failure_count(), 3);
                scope.spawn_critical(fails("critical")).await.unwrap_err();
                assert_eq!(scope.failure_count(), 4);
                assert_eq!(scope.errors().len(), 1);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(messages(err.failures()), ["critical"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_a_snapshot_lists_only_the_retained_failures() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(2)
            .run(|scope| async move {
                let mut ids = Vec::new();
                for i in 0..5 {
                    let handle = scope.spawn(fails(format!("failure {i}")));
                    ids.push(handle.id());
                    handle.await.unwrap_err();
                }
                let snapshot = scope.snapshot();
                let failed: Vec<_> = snapshot
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Failed)
                    .map(|t| (t.id(), t.error().map(ToString::to_string)))
                    .collect();
                assert_eq!(
                    failed,
                    [
                        (ids[3], Some("failure 3".to_owned())),
                        (ids[4], Some("failure 4".to_owned()))
                    ]
                );
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn by_default_every_failure_is_kept() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                fail_in_order(&scope, (0..300).map(|i| format!("f{i}"))).await;
                let expected: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
                assert_eq!(messages(&scope.errors()), expected);
                assert_eq!(scope.failure_count(), 300);
                let failed = scope
                    .snapshot()
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Failed)
                    .count();
                assert_eq!(failed, 300);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

/// A long-lived Supervise scope with `retain_failures(100)` runs 100,000
/// tasks in waves, one in ten failing: what it holds stays bounded.
#[tokio::test(start_paused = true)]
async fn retain_failures_keeps_a_long_lived_scopes_state_bounded() {
    const WAVES: usize = 100;
    const PER_WAVE: usize = 1_000;
    guard(async {
        let handled = Arc::new(AtomicUsize::new(0));
        let h = handled.clone();
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(100)
            .on_error(move |_| {
                h.fetch_add(1, SeqCst);
            })
            .run(|scope| async move {
                for wave in 0..WAVES {
                    for i in 0..PER_WAVE {
                        let n = wave * PER_WAVE + i;
                        scope.spawn(move |_| async move {
                            if n % 10 == 0 {
                                Err(format!("request {n} failed"))
                            } else {
                                Ok(n)
                            }
                        });
                    }
                    scope.wait_for_completion().await?;
                    let failures = scope.errors();
                    assert!(failures.len() <= 100, "{} failures kept", failures.len());
                    assert_eq!(scope.failure_count(), (wave + 1) * PER_WAVE / 10);
                    // The most recent ones: this wave's last hundred.
                    let last = (wave + 1) * PER_WAVE - 10;
                    assert_eq!(
                        failures.last().map(|f| f.error().to_string()),
                        Some(format!("request {last} failed"))
                    );
                    let snapshot = scope.snapshot();
                    let failed = snapshot
                        .tasks()
                        .iter()
                        .filter(|t| t.state() == TaskState::Failed)
                        .count();
                    assert!(failed <= 100, "the snapshot lists {failed} failed tasks");
                    assert!(
                        snapshot.tasks().len() <= 100,
                        "the snapshot lists {} tasks between waves",
                        snapshot.tasks().len()
                    );
                }
                assert_eq!(scope.errors().len(), 100);
                assert_eq!(scope.failure_count(), WAVES * PER_WAVE / 10);
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(handled.load(SeqCst), WAVES * PER_WAVE / 10);
    })
    .await;
}

// === spawn_blocking(f) ===
// Real time: the closures run on Tokio's blocking pool; channels the test
// controls keep them running until it says so.

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
        let Reason::TaskFailed(failure) = err.reason() else {
            panic!("expected TaskFailed, got {:?}", err.reason());
        };
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
        Scope::builder()
            .policy(Policy::Supervise)
            .on_error(handled.handler())
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
        let returned = Flag::default();
        let ended = Flag::default();
        let scope = {
            let (returned, ended) = (returned.clone(), ended.clone());
            async move {
                let r = returned.clone();
                let result = with_scope(|scope| async move {
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
                })
                .await;
                ended.set();
                (result, returned.get())
            }
        };
        let controller = async {
            saw_cancel_rx.await.expect("its token was never cancelled");
            settle().await;
            assert!(!ended.get(), "the scope ended while its blocking task ran");
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
        let returned = Flag::default();
        let ended = Flag::default();
        let scope = {
            let (returned, ended) = (returned.clone(), ended.clone());
            async move {
                let r = returned.clone();
                let result = with_scope(|scope| async move {
                    scope.spawn_blocking(move |_| {
                        release_rx.recv().unwrap();
                        r.set();
                        Res::Ok(())
                    });
                    Res::Ok(())
                })
                .await;
                ended.set();
                (result, returned.get())
            }
        };
        let controller = async {
            settle().await;
            assert!(!ended.get(), "the scope ended while its blocking task ran");
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

// === reserve(): backpressure ===

#[tokio::test(start_paused = true)]
async fn reserve_a_third_waits_until_one_of_two_slots_frees() {
    guard(async {
        Scope::builder()
            .max_concurrency(2)
            .run(|scope| async move {
                let first = scope.reserve().await.expect("a free slot");
                let second = scope.reserve().await.expect("a free slot");
                let third = scope.reserve();
                let mut third = pin!(third);
                assert!(poll!(third.as_mut()).is_pending());
                tokio::time::sleep(Duration::from_secs(60)).await;
                assert!(
                    poll!(third.as_mut()).is_pending(),
                    "a third slot out of two"
                );
                drop(second);
                let third = match poll!(third.as_mut()) {
                    std::task::Poll::Ready(permit) => permit.expect("the freed slot"),
                    std::task::Poll::Pending => {
                        panic!("the freed slot did not go to the waiting reserve")
                    }
                };
                drop((first, third));
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reserve_slots_go_in_fifo_order_between_reservations_and_queued_spawns() {
    guard(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| {
                let order = order.clone();
                async move {
                    let record = |name: &'static str| {
                        let order = order.clone();
                        move |_| {
                            order.lock().unwrap().push(name);
                            async { Res::Ok(()) }
                        }
                    };
                    let held = scope.reserve().await.expect("a free slot");
                    scope.spawn(record("spawned first"));
                    let reservation = scope.reserve();
                    let mut reservation = pin!(reservation);
                    assert!(poll!(reservation.as_mut()).is_pending(), "jumped the queue");
                    scope.spawn(record("spawned after the reservation"));
                    settle().await;
                    assert!(
                        order.lock().unwrap().is_empty(),
                        "a task ran in a held slot"
                    );
                    drop(held);
                    let permit = reservation.await.expect("its turn");
                    order.lock().unwrap().push("reservation");
                    permit.spawn(record("in the reserved slot"));
                    scope.wait_for_completion().await?;
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            [
                "spawned first",
                "reservation",
                "in the reserved slot",
                "spawned after the reservation"
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_permits_task_runs_in_its_reserved_slot_at_once() {
    guard(async {
        let started = Arc::new(Mutex::new(Vec::new()));
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| {
                let started = started.clone();
                async move {
                    let permit = scope.reserve().await.expect("a free slot");
                    let (s1, s2) = (started.clone(), started.clone());
                    // The reservation holds the only slot: a plain spawn waits.
                    let waiting = scope.spawn(move |_| {
                        s1.lock().unwrap().push("queued");
                        async { Res::Ok(()) }
                    });
                    let (release, released) = oneshot::channel::<()>();
                    let reserved = permit.spawn(move |_| {
                        s2.lock().unwrap().push("reserved");
                        async move {
                            released.await.ok();
                            Res::Ok(())
                        }
                    });
                    settle().await;
                    assert_eq!(*started.lock().unwrap(), ["reserved"]);
                    let snapshot = scope.snapshot();
                    let state_of = |id| {
                        snapshot
                            .tasks()
                            .iter()
                            .find(|t| t.id() == id)
                            .map(|t| t.state())
                    };
                    assert_eq!(state_of(reserved.id()), Some(TaskState::Running));
                    assert_eq!(state_of(waiting.id()), Some(TaskState::Waiting));
                    release.send(()).unwrap();
                    reserved.await?;
                    waiting.await?;
                    assert_eq!(*started.lock().unwrap(), ["reserved", "queued"]);
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_permit_spawns_every_kind_in_its_slot() {
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .max_concurrency(1)
            .run(|scope| async move {
                let normal = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn(|_| async { Res::Ok(1) });
                assert_eq!(normal.await?, 1);
                let optional = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn_optional(fails("optional"));
                assert_eq!(optional.await, None);
                assert_eq!(scope.errors()[0].kind(), TaskKind::Optional);
                let critical = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn_critical(fails("critical"));
                critical.await.unwrap_err();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_permit_unused_frees_its_slot() {
    guard(async {
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                let permit = scope.reserve().await.expect("a free slot");
                let ran = Flag::default();
                let r = ran.clone();
                let queued = scope.spawn(move |_| {
                    r.set();
                    async { Res::Ok("ran") }
                });
                settle().await;
                assert!(!ran.get(), "ran in a reserved slot");
                drop(permit);
                assert_eq!(queued.await?, "ran");
                // And the slot is free again for a reservation.
                let again = scope.reserve();
                let mut again = pin!(again);
                assert!(poll!(again.as_mut()).is_ready());
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reserve_returns_none_at_once_after_cancel_or_shutdown() {
    guard(async {
        for limit in [None, Some(1)] {
            let builder = || match limit {
                None => Scope::builder(),
                Some(n) => Scope::builder().max_concurrency(n),
            };
            let err = builder()
                .run(|scope| async move {
                    scope.cancel();
                    let reserve = scope.reserve();
                    let mut reserve = pin!(reserve);
                    assert!(matches!(
                        poll!(reserve.as_mut()),
                        std::task::Poll::Ready(None)
                    ));
                    Res::Ok(())
                })
                .await
                .unwrap_err();
            assert!(err.is_cancelled());
            builder()
                .run(|scope| async move {
                    scope.shutdown();
                    let reserve = scope.reserve();
                    let mut reserve = pin!(reserve);
                    assert!(matches!(
                        poll!(reserve.as_mut()),
                        std::task::Poll::Ready(None)
                    ));
                    Res::Ok(())
                })
                .await
                .unwrap();
            // After a failure, and after the scope ended.
            let kept = builder()
                .run(|scope| async move {
                    scope.spawn(fails("broken")).await.unwrap_err();
                    assert!(scope.reserve().await.is_none());
                    Res::Ok(scope.clone())
                })
                .await;
            assert!(kept.is_err());
            let kept = builder()
                .run(|scope| async move { Res::Ok(scope) })
                .await
                .unwrap();
            assert!(kept.reserve().await.is_none(), "reserved in an ended scope");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_waiting_reserve_returns_none_when_the_scope_is_cancelled_or_shut_down_meanwhile() {
    guard(async {
        for shutdown in [false, true] {
            let start = Instant::now();
            let outcome = Scope::builder()
                .max_concurrency(1)
                .run(|scope| async move {
                    let _held = scope.reserve().await.expect("a free slot");
                    let stopper = scope.clone();
                    let waited = tokio::join!(scope.reserve(), async move {
                        tokio::time::sleep(Duration::from_secs(9)).await;
                        if shutdown {
                            stopper.shutdown();
                        } else {
                            stopper.cancel();
                        }
                    })
                    .0;
                    assert!(waited.is_none(), "a reservation in a stopped scope");
                    assert_eq!(Instant::now(), start + Duration::from_secs(9));
                    Res::Ok(())
                })
                .await;
            match outcome {
                Ok(()) => assert!(shutdown),
                Err(err) => assert!(!shutdown && err.is_cancelled(), "{err}"),
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_max_concurrency_reserve_returns_some_at_once() {
    guard(async {
        with_scope(|scope| async move {
            let mut permits = Vec::new();
            for _ in 0..100 {
                let reserve = scope.reserve();
                let mut reserve = pin!(reserve);
                match poll!(reserve.as_mut()) {
                    std::task::Poll::Ready(Some(permit)) => permits.push(permit),
                    other => panic!("expected a permit at once, got {other:?}"),
                }
            }
            let handles: Vec<_> = permits
                .into_iter()
                .enumerate()
                .map(|(i, permit)| permit.spawn(move |_| async move { Res::Ok(i) }))
                .collect();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await?, i);
            }
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_reserve_gives_its_place_to_the_next() {
    guard(async {
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                // Dropped while it waits in the queue.
                let held = scope.reserve().await.expect("a free slot");
                let mut first = Box::pin(scope.reserve());
                assert!(poll!(first.as_mut()).is_pending());
                let second = scope.reserve();
                let mut second = pin!(second);
                assert!(poll!(second.as_mut()).is_pending());
                drop(first);
                drop(held);
                let held = match poll!(second.as_mut()) {
                    std::task::Poll::Ready(permit) => permit.expect("the slot"),
                    std::task::Poll::Pending => panic!("the dropped reservation kept its place"),
                };

                // Dropped after its slot was handed to it, before it saw it.
                let mut first = Box::pin(scope.reserve());
                assert!(poll!(first.as_mut()).is_pending());
                let third = scope.reserve();
                let mut third = pin!(third);
                assert!(poll!(third.as_mut()).is_pending());
                drop(held); // the slot goes to `first`...
                drop(first); // ...which passes it on
                let held = match poll!(third.as_mut()) {
                    std::task::Poll::Ready(permit) => permit.expect("the slot"),
                    std::task::Poll::Pending => {
                        panic!("a dropped reservation took the slot with it")
                    }
                };

                // And a queued task gets a slot a dropped reservation gave up.
                let mut reservation = Box::pin(scope.reserve());
                assert!(poll!(reservation.as_mut()).is_pending());
                let task = scope.spawn(|_| async { Res::Ok("ran") });
                drop(held);
                drop(reservation);
                assert_eq!(task.await?, "ran");
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

/// Counts a connection as running from its start until its future is gone
/// (it ends, or the shutdown aborts it).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn enter(running: &Arc<AtomicUsize>, max_running: &AtomicUsize) -> Running {
        let now = running.fetch_add(1, SeqCst) + 1;
        max_running.fetch_max(now, SeqCst);
        Running(running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn an_accept_loop_never_has_more_than_the_limit_running() {
    const LIMIT: usize = 3;
    const CONNECTIONS: usize = 200;
    guard(async {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), max_running.clone());
        let served = Scope::builder()
            .policy(Policy::Supervise)
            .max_concurrency(LIMIT)
            .run(|scope| async move {
                let mut accepted = 0;
                while let Some(permit) = scope.reserve().await {
                    // listener.accept().await in a server: it takes a while.
                    tokio::time::sleep(Duration::from_millis((accepted % 3) as u64)).await;
                    let (r, m) = (r.clone(), m.clone());
                    permit.spawn(move |_| async move {
                        let _running = Running::enter(&r, &m);
                        tokio::time::sleep(Duration::from_millis(1 + (accepted * 7 % 13) as u64))
                            .await;
                        if accepted % 10 == 0 {
                            return Err("connection reset");
                        }
                        Ok(())
                    });
                    accepted += 1;
                    if accepted == CONNECTIONS {
                        scope.shutdown();
                    }
                }
                Res::Ok(accepted)
            })
            .await
            .unwrap();
        assert_eq!(served, CONNECTIONS);
        assert_eq!(
            max_running.load(SeqCst),
            LIMIT,
            "the limit was never reached"
        );
        assert_eq!(running.load(SeqCst), 0);
    })
    .await;
}
