//! Cancellation (SPEC.md, "Rules": `scope.cancel()`, `TaskHandle::cancel()`,
//! "cancellation mechanics"; "Details": the body is not interrupted, a task
//! that ends with `Ok(v)` during its grace period yields `Ok(v)`,
//! `is_cancelled()`). Time is paused wherever a grace period matters, so
//! "at once" and "after the grace period" are exact instants.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, CancellationToken, Policy, Reason, Scope, TaskError, TaskFailure};
use tokio::time::Instant;

mod common;
use common::{guard, settle, Flag, Live, Res};

// === helpers ===

/// A task that ignores its token and sleeps an hour, holding a probe.
fn stubborn(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res> + Send>>
       + Send
       + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    }
}

fn counting_handler(count: &Arc<AtomicUsize>) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
    let count = count.clone();
    move |_| {
        count.fetch_add(1, SeqCst);
    }
}

// === scope.cancel() ===

#[tokio::test(start_paused = true)]
async fn scope_cancel_signals_every_task_token() {
    guard(async move {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let err = Scope::builder()
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                let handles: Vec<_> = (0..3)
                    .map(|_| {
                        let s = s.clone();
                        scope.spawn(move |token| async move {
                            token.cancelled().await;
                            s.fetch_add(1, SeqCst);
                            Res::Ok(())
                        })
                    })
                    .collect();
                let optional = scope.spawn_optional({
                    let s = s.clone();
                    move |token| async move {
                        token.cancelled().await;
                        s.fetch_add(1, SeqCst);
                        Res::Ok(())
                    }
                });
                settle().await;
                scope.cancel();
                for h in handles {
                    h.await?;
                }
                optional.await;
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(seen.load(SeqCst), 4);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_cancel_fails_scope_with_reason_cancelled() {
    guard(async move {
        let err = with_scope(|scope| async move {
            scope.spawn(|_| std::future::pending::<Res>());
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert!(err.is_cancelled());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_cancel_is_not_a_failure() {
    guard(async move {
        let handled = Arc::new(AtomicUsize::new(0));
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .on_error(counting_handler(&handled))
            .run(|scope| async move {
                let a = scope.spawn(|_| std::future::pending::<Res>());
                let b = scope.spawn_critical(|_| std::future::pending::<Res>());
                let c = scope.spawn_optional(|_| std::future::pending::<Res>());
                settle().await;
                scope.cancel();
                assert!(matches!(a.await, Err(TaskError::Cancelled)));
                assert!(matches!(b.await, Err(TaskError::Cancelled)));
                assert_eq!(c.await, None);
                assert!(scope.errors().is_empty());
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.failures().is_empty());
        assert_eq!(handled.load(SeqCst), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_cancel_cancels_nested_scopes() {
    guard(async move {
        let live = Live::default();
        let cancelled = [Flag::default(), Flag::default()];
        let err = with_scope(|scope| {
            let (live, cancelled) = (live.clone(), cancelled.clone());
            async move {
                let outer = scope.clone();
                let (l, c) = (live.clone(), cancelled[0].clone());
                scope.spawn(move |_| async move {
                    with_scope(|inner| async move {
                        inner.spawn(stubborn(&l, &c));
                        Res::Ok(())
                    })
                    .await?;
                    Res::Ok(())
                });
                let nested = with_scope(|inner| async move {
                    inner.spawn(stubborn(&live, &cancelled[1]));
                    settle().await;
                    outer.cancel();
                    Res::Ok(())
                })
                .await;
                assert!(matches!(nested.unwrap_err().reason(), Reason::Cancelled));
                Res::Ok(())
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        settle().await;
        assert_eq!(live.count(), 0);
        assert!(cancelled.iter().all(Flag::get));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_cancel_refuses_later_spawns_without_calling_the_closure() {
    guard(async move {
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let err = with_scope(|scope| async move {
            scope.cancel();
            let c1 = c.clone();
            let normal = scope.spawn(move |_| {
                c1.fetch_add(1, SeqCst);
                async { Res::Ok(()) }
            });
            let c2 = c.clone();
            let critical = scope.spawn_critical(move |_| {
                c2.fetch_add(1, SeqCst);
                async { Err::<(), _>("never") }
            });
            let c3 = c.clone();
            let optional = scope.spawn_optional(move |_| {
                c3.fetch_add(1, SeqCst);
                async { Res::Ok(()) }
            });
            assert!(matches!(normal.await, Err(TaskError::Cancelled)));
            assert!(matches!(critical.await, Err(TaskError::Cancelled)));
            assert_eq!(optional.await, None);
            // Also from inside a task that outlives the cancellation (grace below).
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert_eq!(called.load(SeqCst), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_cancel_refuses_spawns_from_tasks_in_their_grace_period() {
    guard(async move {
        let called = Flag::default();
        let c = called.clone();
        let err = Scope::builder()
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                let spawner = scope.spawn(move |token| async move {
                    token.cancelled().await;
                    let late = Scope::current().unwrap().spawn(move |_| {
                        c.set();
                        async { Res::Ok(()) }
                    });
                    Res::Ok(matches!(late.await, Err(TaskError::Cancelled)))
                });
                settle().await;
                scope.cancel();
                assert!(spawner.await?);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert!(!called.get());
    })
    .await;
}

// === cancellation mechanics ===

#[tokio::test(start_paused = true)]
async fn cancelled_task_is_aborted_at_once_without_grace() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = with_scope(|scope| async move {
            let h = scope.spawn(stubborn(&l, &c));
            settle().await;
            let start = Instant::now();
            scope.cancel();
            assert!(matches!(h.await, Err(TaskError::Cancelled)));
            assert_eq!(start.elapsed(), Duration::ZERO);
            assert_eq!(l.count(), 0, "the aborted task's destructors have not run");
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert!(
            cancelled.get(),
            "the token was not cancelled before the abort"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_task_token_at_once_then_abort_after_grace() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let signalled_after = Arc::new(Mutex::new(None));
        let s = signalled_after.clone();
        let start = Instant::now();
        let err = Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let h = scope.spawn(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    token.cancelled().await;
                    *s.lock().unwrap() = Some(start.elapsed());
                    // Ignores the signal from here on: only the abort ends it.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                settle().await;
                scope.cancel();
                assert!(matches!(h.await, Err(TaskError::Cancelled)));
                assert_eq!(
                    start.elapsed(),
                    Duration::from_millis(100),
                    "not aborted after grace"
                );
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(*signalled_after.lock().unwrap(), Some(Duration::ZERO));
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn grace_period_applies_to_every_cancelled_task_at_once() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let start = Instant::now();
        let err = Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                for _ in 0..5 {
                    scope.spawn(stubborn(&l, &c));
                }
                settle().await;
                scope.cancel();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(live.count(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_ending_ok_during_grace_yields_ok() {
    guard(async move {
        let err = Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let h = scope.spawn(|token| async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_millis(50)).await; // flush
                    Res::Ok("flushed")
                });
                settle().await;
                scope.cancel();
                assert_eq!(h.await?, "flushed");
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn optional_task_ending_ok_during_grace_yields_some() {
    guard(async move {
        let err = Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let h = scope.spawn_optional(|token| async move {
                    token.cancelled().await;
                    Res::Ok(3)
                });
                settle().await;
                scope.cancel();
                assert_eq!(h.await, Some(3));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn destructors_of_an_aborted_task_run() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = with_scope(|scope| async move {
            for _ in 0..10 {
                let (l, c) = (l.clone(), c.clone());
                scope.spawn(move |token| async move {
                    let _outer = l.probe(&token, &c);
                    let inner = async {
                        let _inner = l.probe(&token, &c);
                        std::future::pending::<()>().await;
                    };
                    inner.await;
                    Res::Ok(())
                });
            }
            settle().await;
            assert_eq!(l.count(), 20);
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

// === TaskHandle::cancel() ===

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_cancels_only_that_task() {
    guard(async move {
        let handled = Arc::new(AtomicUsize::new(0));
        let sibling_token = Arc::new(Mutex::new(None::<CancellationToken>));
        let t = sibling_token.clone();
        let value = Scope::builder()
            .on_error(counting_handler(&handled))
            .run(|scope| async move {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let sibling = scope.spawn(move |token| async move {
                    *t.lock().unwrap() = Some(token);
                    rx.await.ok();
                    Res::Ok(1)
                });
                let victim = scope.spawn(|_| std::future::pending::<Res<i32>>());
                settle().await;
                victim.cancel();
                assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                assert!(!scope.is_cancelled());
                tx.send(()).unwrap();
                let v = sibling.await?;
                assert!(
                    scope.errors().is_empty(),
                    "a cancelled task counted as a failure"
                );
                Res::Ok(v)
            })
            .await
            .unwrap();
        assert_eq!(value, 1, "cancelling one task failed its scope");
        assert!(!sibling_token
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .is_cancelled());
        assert_eq!(handled.load(SeqCst), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_of_any_kind_is_not_a_failure() {
    guard(async move {
        for policy in [Policy::Cancel, Policy::Supervise] {
            let handled = Arc::new(AtomicUsize::new(0));
            Scope::builder()
                .policy(policy)
                .on_error(counting_handler(&handled))
                .run(|scope| async move {
                    let normal = scope.spawn(|_| std::future::pending::<Res>());
                    let critical = scope.spawn_critical(|_| std::future::pending::<Res>());
                    let optional = scope.spawn_optional(|_| std::future::pending::<Res>());
                    settle().await;
                    normal.cancel();
                    critical.cancel();
                    optional.cancel();
                    assert!(matches!(normal.await, Err(TaskError::Cancelled)));
                    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
                    assert_eq!(optional.await, None);
                    assert!(scope.errors().is_empty());
                    Res::Ok(())
                })
                .await
                .unwrap_or_else(|e| panic!("{policy:?}: {e}"));
            assert_eq!(handled.load(SeqCst), 0);
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_signals_the_token_then_aborts_after_grace() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let start = Instant::now();
        Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let saw_signal = Arc::new(Mutex::new(None));
                let s = saw_signal.clone();
                let sibling_token = Arc::new(Mutex::new(None::<CancellationToken>));
                let t = sibling_token.clone();
                let sibling = scope.spawn(move |token| async move {
                    *t.lock().unwrap() = Some(token);
                    Res::Ok(())
                });
                let victim = scope.spawn(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    token.cancelled().await;
                    *s.lock().unwrap() = Some(start.elapsed());
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                settle().await;
                victim.cancel();
                assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                assert_eq!(*saw_signal.lock().unwrap(), Some(Duration::ZERO));
                assert_eq!(start.elapsed(), Duration::from_millis(100));
                sibling.await?;
                assert!(!sibling_token
                    .lock()
                    .unwrap()
                    .as_ref()
                    .unwrap()
                    .is_cancelled());
                assert!(!scope.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_cancels_the_task_token_without_grace() {
    guard(async move {
        // A task may hand its token to work outside it (a blocking thread, a
        // detached helper): a cancelled task's token must be cancelled at once,
        // or that work never learns it should stop.
        with_scope(|scope| async move {
            let token_seen = Arc::new(Mutex::new(None::<CancellationToken>));
            let t = token_seen.clone();
            let victim = scope.spawn(move |token| {
                *t.lock().unwrap() = Some(token);
                std::future::pending::<Res>()
            });
            settle().await;
            victim.cancel();
            assert!(matches!(victim.await, Err(TaskError::Cancelled)));
            let token = token_seen.lock().unwrap().take().unwrap();
            assert!(
                token.is_cancelled(),
                "the cancelled task's token was not cancelled"
            );
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_after_the_task_ended_keeps_its_value() {
    guard(async move {
        with_scope(|scope| async move {
            let h = scope.spawn(|_| async { Res::Ok(9) });
            scope.wait_for_completion().await?;
            h.cancel();
            assert_eq!(h.await?, 9);
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn optional_handle_cancel_yields_none() {
    guard(async move {
        with_scope(|scope| async move {
            let h = scope.spawn_optional(|_| std::future::pending::<Res<u8>>());
            settle().await;
            h.cancel();
            assert_eq!(h.await, None);
            assert!(scope.errors().is_empty());
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_handle_cancel_runs_the_task_destructors() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        with_scope(|scope| async move {
            let h = scope.spawn(stubborn(&l, &c));
            settle().await;
            assert_eq!(l.count(), 1);
            h.cancel();
            assert!(matches!(h.await, Err(TaskError::Cancelled)));
            assert_eq!(l.count(), 0);
            Res::Ok(())
        })
        .await
        .unwrap();
        assert_eq!(live.count(), 0);
    })
    .await;
}

// === the body is not interrupted ===

#[tokio::test(start_paused = true)]
async fn body_runs_to_its_end_after_cancellation() {
    guard(async move {
        let reached_end = Flag::default();
        let r = reached_end.clone();
        let err = with_scope(|scope| async move {
            scope.cancel();
            tokio::time::sleep(Duration::from_secs(5)).await;
            tokio::task::yield_now().await;
            r.set();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert!(reached_end.get(), "the body was interrupted");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn body_runs_to_its_end_after_a_task_failure() {
    guard(async move {
        let reached_end = Flag::default();
        let r = reached_end.clone();
        let err = with_scope(|scope| async move {
            scope.spawn(|_| async { Err::<(), _>("boom") });
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(scope.is_cancelled());
            r.set();
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)));
        assert!(reached_end.get(), "the body was interrupted");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn body_sees_cancellation_through_handles_at_once() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = with_scope(|scope| async move {
            let handles: Vec<_> = (0..3).map(|_| scope.spawn(stubborn(&l, &c))).collect();
            settle().await;
            let start = Instant::now();
            scope.spawn(|_| async { Err::<(), _>("boom") });
            for h in handles {
                assert!(matches!(h.await, Err(TaskError::Cancelled)));
            }
            assert_eq!(start.elapsed(), Duration::ZERO);
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn body_sees_cancellation_through_is_cancelled_and_signal() {
    guard(async move {
        let err = with_scope(|scope| async move {
            let signal = scope.signal();
            assert!(!scope.is_cancelled());
            assert!(!signal.is_cancelled());
            let s = scope.clone();
            scope.spawn(move |_| async move {
                s.cancel();
                Res::Ok(())
            });
            signal.cancelled().await;
            assert!(scope.is_cancelled());
            assert!(scope.signal().is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

// === is_cancelled() ===

#[tokio::test(start_paused = true)]
async fn is_cancelled_after_explicit_cancel() {
    guard(async move {
        let err = with_scope(|scope| async move {
            scope.cancel();
            assert!(scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn is_cancelled_after_ancestor_cancel() {
    guard(async move {
        let err = with_scope(|outer| async move {
            let inner_err = with_scope(|inner| async move {
                outer.cancel();
                assert!(inner.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap_err();
            assert!(
                matches!(inner_err.reason(), Reason::Cancelled),
                "{inner_err}"
            );
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn is_cancelled_after_failure() {
    guard(async move {
        let err = with_scope(|scope| async move {
            let failed = scope.spawn(|_| async { Err::<(), _>("boom") }).await;
            assert!(matches!(failed, Err(TaskError::Failed(_))));
            assert!(scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
        let err = with_scope(|scope| async move {
            let failed = scope
                .spawn_critical(|_| async { Err::<(), _>("boom") })
                .await;
            assert!(matches!(failed, Err(TaskError::Failed(_))));
            assert!(scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::CriticalTaskFailed(_)),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn is_cancelled_false_after_supervised_and_optional_failures() {
    guard(async move {
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let failed = scope.spawn(|_| async { Err::<(), _>("boom") }).await;
                assert!(matches!(failed, Err(TaskError::Failed(_))));
                let optional = scope
                    .spawn_optional(|_| async { Err::<(), _>("boom") })
                    .await;
                assert_eq!(optional, None);
                assert!(!scope.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn is_cancelled_after_timeout() {
    guard(async move {
        let err = Scope::builder()
            .timeout(Duration::from_secs(1))
            .run(|scope| async move {
                assert!(!scope.is_cancelled());
                scope.signal().cancelled().await;
                assert!(scope.is_cancelled());
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn is_cancelled_false_after_normal_end_yet_spawns_are_refused() {
    guard(async move {
        let keep = Arc::new(Mutex::new(None::<Scope>));
        let k = keep.clone();
        with_scope(|scope| async move {
            *k.lock().unwrap() = Some(scope);
            Res::Ok(())
        })
        .await
        .unwrap();
        let scope = keep.lock().unwrap().take().unwrap();
        assert!(!scope.is_cancelled());
        let called = Flag::default();
        let c = called.clone();
        let late = scope.spawn(move |_| {
            c.set();
            async { Res::Ok(()) }
        });
        assert!(matches!(late.await, Err(TaskError::Cancelled)));
        assert!(!called.get());
    })
    .await;
}
