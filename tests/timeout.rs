//! The builder's timeout (SPEC.md, "Rules": "`timeout(d)`"; the "first event
//! decides" paragraph). Every test runs on paused time: instants are exact.

use std::sync::Arc;
use std::time::Duration;

use async_scope::{with_scope, Reason, Scope, TaskError};
use tokio::time::{sleep, Instant};

mod common;

use common::{guard, Flag, Live, Res};

// === helpers ===

const SECOND: Duration = Duration::from_secs(1);

fn timed(after: Duration) -> async_scope::ScopeBuilder {
    Scope::builder().timeout(after)
}

// === the rule ===

#[tokio::test(start_paused = true)]
async fn timeout_elapsing_cancels_the_scope_and_fails_with_timed_out() {
    guard(async move {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let start = Instant::now();
        let err = timed(SECOND)
            .run(|scope| async move {
                scope.spawn(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(start.elapsed(), SECOND);
        assert_eq!(live.count(), 0);
        assert!(cancelled.get(), "the task's token was not cancelled");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_ending_before_its_timeout_is_ok() {
    guard(async move {
        let start = Instant::now();
        let value = timed(SECOND)
            .run(|scope| async move {
                let h = scope.spawn(|_| async {
                    sleep(Duration::from_millis(999)).await;
                    Res::Ok(5)
                });
                Res::Ok(h.await?)
            })
            .await
            .unwrap();
        assert_eq!(value, 5);
        assert_eq!(start.elapsed(), Duration::from_millis(999));
        // The timer does not outlive the scope.
        sleep(Duration::from_secs(10)).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_counts_while_waiting_for_tasks_after_the_body() {
    guard(async move {
        let start = Instant::now();
        let body_done = Flag::default();
        let b = body_done.clone();
        let err = timed(SECOND)
            .run(|scope| async move {
                scope.spawn(|_| async {
                    sleep(Duration::from_secs(2)).await;
                    Res::Ok(())
                });
                b.set();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(body_done.get());
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(start.elapsed(), SECOND);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_counts_while_the_body_runs_and_the_body_is_not_interrupted() {
    guard(async move {
        let start = Instant::now();
        let saw = Arc::new(std::sync::Mutex::new(None));
        let s = saw.clone();
        let err = timed(SECOND)
            .run(|scope| async move {
                scope.signal().cancelled().await;
                *s.lock().unwrap() = Some(start.elapsed());
                sleep(Duration::from_millis(500)).await; // the body finishes its own work
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(*saw.lock().unwrap(), Some(SECOND));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_refuses_later_spawns() {
    guard(async move {
        let called = Flag::default();
        let c = called.clone();
        let _ = timed(SECOND)
            .run(|scope| async move {
                sleep(Duration::from_secs(2)).await;
                let late = scope.spawn(move |_| {
                    c.set();
                    async { Res::Ok(()) }
                });
                assert!(matches!(late.await, Err(TaskError::Cancelled)));
                Res::Ok(())
            })
            .await;
        assert!(!called.get());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_with_grace_lets_tasks_finish() {
    guard(async move {
        let start = Instant::now();
        let err = timed(SECOND)
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let h = scope.spawn(|token| async move {
                    token.cancelled().await;
                    sleep(Duration::from_millis(50)).await;
                    Res::Ok("flushed")
                });
                assert_eq!(h.await?, "flushed");
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_millis(1050));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_with_grace_aborts_stubborn_tasks_after_grace() {
    guard(async move {
        let start = Instant::now();
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = timed(SECOND)
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                scope.spawn(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_millis(1100));
        assert_eq!(live.count(), 0);
    })
    .await;
}

// === the first event decides ===

#[tokio::test(start_paused = true)]
async fn timeout_after_a_task_failure_keeps_task_failed() {
    guard(async move {
        let err = timed(SECOND)
            .grace(Duration::from_secs(10))
            .run(|scope| async move {
                scope.spawn(|_| async {
                    sleep(Duration::from_millis(10)).await;
                    Err::<(), _>("boom")
                });
                // Outlives the timeout in its grace period.
                scope.spawn(|_| async {
                    sleep(Duration::from_secs(2)).await;
                    Res::Ok(())
                });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_after_a_body_failure_keeps_body_failed() {
    guard(async move {
        let err = timed(SECOND)
            .grace(Duration::from_secs(10))
            .run(|scope| async move {
                scope.spawn(|_| async {
                    sleep(Duration::from_secs(2)).await;
                    Res::Ok(())
                });
                Err::<(), _>("body")
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::BodyFailed(_)), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_after_cancel_keeps_cancelled() {
    guard(async move {
        let err = timed(SECOND)
            .run(|scope| async move {
                scope.cancel();
                sleep(Duration::from_secs(2)).await;
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failure_after_timeout_keeps_timed_out() {
    guard(async move {
        let err = timed(SECOND)
            .grace(Duration::from_secs(10))
            .run(|scope| async move {
                scope.spawn(|token| async move {
                    token.cancelled().await;
                    Err::<(), _>("failed while shutting down")
                });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
        assert_eq!(err.failures().len(), 1);
    })
    .await;
}

// === nesting ===

#[tokio::test(start_paused = true)]
async fn child_timeout_fails_only_the_child() {
    guard(async move {
        let start = Instant::now();
        with_scope(|outer| async move {
            let nested = timed(Duration::from_millis(10))
                .run(|inner| async move {
                    inner.spawn(|_| std::future::pending::<Res>());
                    Res::Ok(())
                })
                .await;
            assert!(matches!(nested.unwrap_err().reason(), Reason::TimedOut));
            assert!(!outer.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(10));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn parent_timeout_cancels_the_child_with_reason_cancelled() {
    guard(async move {
        let err = timed(SECOND)
            .run(|_| async move {
                let nested = with_scope(|inner| async move {
                    inner.spawn(|_| std::future::pending::<Res>());
                    Res::Ok(())
                })
                .await;
                assert!(matches!(nested.unwrap_err().reason(), Reason::Cancelled));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_longer_child_timeout_does_not_extend_the_parents() {
    guard(async move {
        let start = Instant::now();
        let err = timed(SECOND)
            .run(|_| async move {
                let _ = timed(Duration::from_secs(10))
                    .run(|inner| async move {
                        inner.spawn(|_| std::future::pending::<Res>());
                        Res::Ok(())
                    })
                    .await;
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut));
        assert_eq!(start.elapsed(), SECOND);
    })
    .await;
}
