//! The builder's timeout (SPEC.md, "Rules": "`timeout(d)`"; the "first event
//! decides" paragraph). Every test runs on paused time: instants are exact.
//! Each test that spawns runs once per spawner (`rule::spawn`,
//! `rule::spawn_local`: see `common::per_spawner!`).

use std::sync::Arc;
use std::time::Duration;

use async_scope::{with_scope, Reason, Scope, TaskError};
use tokio::time::{sleep, Instant};

mod common;

use common::{guard, per_spawner, Flag, Live, Res, Spawner};

// === helpers ===

const SECOND: Duration = Duration::from_secs(1);

fn timed(after: Duration) -> async_scope::ScopeBuilder {
    Scope::builder().timeout(after)
}

// === the rules, once per spawner ===

per_spawner!(
    timeout_elapsing_cancels_every_task_and_fails_with_timed_out,
    scope_ending_before_its_timeout_is_ok,
    timeout_counts_while_waiting_for_tasks_after_the_body,
    timeout_refuses_later_spawns,
    timeout_with_grace_lets_tasks_finish,
    timeout_with_grace_aborts_stubborn_tasks_after_grace,
    timeout_after_a_task_failure_keeps_task_failed,
    failure_after_timeout_keeps_timed_out,
    child_timeout_fails_only_the_child,
    parent_timeout_cancels_the_child_with_reason_cancelled,
    a_longer_child_timeout_does_not_extend_the_parents,
);

/// `timeout(d)`: when `d` elapses, every task (all kinds, some ignoring
/// their token) is cancelled with its token, its destructors run, and the
/// scope fails with `TimedOut` at exactly `d`; a task that ended in time
/// keeps its value; nothing counts as a failure.
async fn timeout_elapsing_cancels_every_task_and_fails_with_timed_out(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let start = Instant::now();
    let err = timed(5 * SECOND)
        .run(|scope| async move {
            let quick = sp.spawn(&scope, |_| async {
                sleep(SECOND).await;
                Res::Ok("in time")
            });
            sp.spawn(&scope, l.stubborn());
            sp.spawn_critical(&scope, l.pending());
            sp.spawn_optional(&scope, l.stubborn());
            assert_eq!(quick.await?, "in time");
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
    assert_eq!(start.elapsed(), 5 * SECOND);
    assert!(err.failures().is_empty());
    assert_eq!(live.count(), 0);
    assert!(
        live.all_tokens_cancelled(),
        "a task's token was not cancelled"
    );
}

async fn scope_ending_before_its_timeout_is_ok(sp: Spawner) {
    let start = Instant::now();
    let value = timed(SECOND)
        .run(|scope| async move {
            let h = sp.spawn(&scope, |_| async {
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
}

async fn timeout_counts_while_waiting_for_tasks_after_the_body(sp: Spawner) {
    let start = Instant::now();
    let body_done = Flag::default();
    let b = body_done.clone();
    let err = timed(SECOND)
        .run(|scope| async move {
            sp.spawn(&scope, |_| async {
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

async fn timeout_refuses_later_spawns(sp: Spawner) {
    let called = Flag::default();
    let c = called.clone();
    let _ = timed(SECOND)
        .run(|scope| async move {
            sleep(Duration::from_secs(2)).await;
            let late = sp.spawn(&scope, move |_| {
                c.set();
                async { Res::Ok(()) }
            });
            assert!(matches!(late.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await;
    assert!(!called.get());
}

async fn timeout_with_grace_lets_tasks_finish(sp: Spawner) {
    let start = Instant::now();
    let err = timed(SECOND)
        .grace(Duration::from_millis(100))
        .run(|scope| async move {
            let h = sp.spawn(&scope, |token| async move {
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
}

async fn timeout_with_grace_aborts_stubborn_tasks_after_grace(sp: Spawner) {
    let start = Instant::now();
    let live = Live::default();
    let cancelled = Flag::default();
    let (l, c) = (live.clone(), cancelled.clone());
    let err = timed(SECOND)
        .grace(Duration::from_millis(100))
        .run(|scope| async move {
            sp.spawn(&scope, move |token| async move {
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
}

// === the first event decides ===

async fn timeout_after_a_task_failure_keeps_task_failed(sp: Spawner) {
    let err = timed(SECOND)
        .grace(Duration::from_secs(10))
        .run(|scope| async move {
            sp.spawn(&scope, |_| async {
                sleep(Duration::from_millis(10)).await;
                Err::<(), _>("boom")
            });
            // Outlives the timeout in its grace period.
            sp.spawn(&scope, |_| async {
                sleep(Duration::from_secs(2)).await;
                Res::Ok(())
            });
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
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

async fn failure_after_timeout_keeps_timed_out(sp: Spawner) {
    let err = timed(SECOND)
        .grace(Duration::from_secs(10))
        .run(|scope| async move {
            sp.spawn(&scope, |token| async move {
                token.cancelled().await;
                Err::<(), _>("failed while shutting down")
            });
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
    assert_eq!(err.failures().len(), 1);
}

// === nesting ===

async fn child_timeout_fails_only_the_child(sp: Spawner) {
    let start = Instant::now();
    with_scope(|outer| async move {
        let nested = timed(Duration::from_millis(10))
            .run(|inner| async move {
                sp.spawn(&inner, |_| std::future::pending::<Res>());
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
}

async fn parent_timeout_cancels_the_child_with_reason_cancelled(sp: Spawner) {
    let err = timed(SECOND)
        .run(|_| async move {
            let nested = with_scope(|inner| async move {
                sp.spawn(&inner, |_| std::future::pending::<Res>());
                Res::Ok(())
            })
            .await;
            assert!(matches!(nested.unwrap_err().reason(), Reason::Cancelled));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut));
}

async fn a_longer_child_timeout_does_not_extend_the_parents(sp: Spawner) {
    let start = Instant::now();
    let err = timed(SECOND)
        .run(|_| async move {
            let _ = timed(Duration::from_secs(10))
                .run(|inner| async move {
                    sp.spawn(&inner, |_| std::future::pending::<Res>());
                    Res::Ok(())
                })
                .await;
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut));
    assert_eq!(start.elapsed(), SECOND);
}
