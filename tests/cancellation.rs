//! Cancellation (SPEC.md, "Rules": `scope.cancel()`, `TaskHandle::cancel()`,
//! "cancellation mechanics"; "Details": the body is not interrupted, a task
//! that ends with `Ok(v)` during its grace period yields `Ok(v)`,
//! `is_cancelled()`). Time is paused wherever a grace period matters, so
//! "at once" and "after the grace period" are exact instants. Each rule test
//! that spawns runs once per spawner (`rule::spawn`, `rule::spawn_local`:
//! see `common::per_spawner!`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_scope::{with_scope, CancellationToken, Policy, Reason, Scope, TaskError, TaskFailure};
use tokio::sync::oneshot;
use tokio::time::Instant;

mod common;
use common::{
    collecting, counted, guard, per_spawner, reason_is_cancelled, settle, watcher, Flag, Live, Res,
    Seen, Spawner,
};

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

// === the rules that concern tasks, once per spawner ===

per_spawner!(
    scope_cancel_signals_every_task_token_at_once,
    scope_cancel_fails_scope_with_reason_cancelled,
    scope_cancel_is_not_a_failure,
    scope_cancel_cancels_nested_scopes,
    scope_cancel_refuses_later_spawns_without_calling_the_closure,
    scope_cancel_refuses_spawns_from_tasks_in_their_grace_period,
    cancelled_task_is_aborted_at_once_without_grace,
    grace_period_signals_first_then_aborts_and_ok_within_it_counts,
    grace_period_applies_to_every_cancelled_task_at_once,
    destructors_of_an_aborted_task_run,
    task_handle_cancel_cancels_that_task_alone,
    task_handle_cancel_signals_the_token_at_once_then_aborts_after_grace,
    task_handle_cancel_cancels_the_task_token_without_grace,
    task_handle_cancel_after_the_task_ended_keeps_its_value,
    body_runs_to_its_end_after_a_task_failure,
    body_sees_cancellation_through_handles_at_once,
    body_sees_cancellation_through_is_cancelled_and_signal,
    is_cancelled_after_failure,
    is_cancelled_false_after_supervised_and_optional_failures,
    is_cancelled_false_after_normal_end_yet_spawns_are_refused,
);

// === scope.cancel() ===

/// `scope.cancel()` cancels every task's token (all kinds) at once; with a
/// grace period they end by themselves, with their values; the scope fails
/// with `Cancelled`, and cancellation is not a failure.
async fn scope_cancel_signals_every_task_token_at_once(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let start = Instant::now();
    let err = Scope::builder()
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let normal = sp.spawn(&scope, watcher(&l, start));
            let critical = sp.spawn_critical(&scope, watcher(&l, start));
            let optional = sp.spawn_optional(&scope, watcher(&l, start));
            l.reaches(3).await;
            assert!(!normal.is_finished() && !critical.is_finished());
            scope.cancel();
            assert!(scope.is_cancelled());
            assert_eq!(normal.await?, Duration::ZERO);
            assert_eq!(critical.await?, Duration::ZERO);
            assert_eq!(optional.await, Some(Duration::ZERO));
            assert!(
                scope.errors().is_empty(),
                "cancellation counted as a failure"
            );
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert!(err.failures().is_empty());
    assert_eq!(live.count(), 0);
}

async fn scope_cancel_fails_scope_with_reason_cancelled(sp: Spawner) {
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, |_| std::future::pending::<Res>());
        scope.cancel();
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert!(err.is_cancelled());
}

async fn scope_cancel_is_not_a_failure(sp: Spawner) {
    let handled = Arc::new(AtomicUsize::new(0));
    let err = Scope::builder()
        .policy(Policy::Supervise)
        .on_error(counting_handler(&handled))
        .run(|scope| async move {
            let a = sp.spawn(&scope, |_| std::future::pending::<Res>());
            let b = sp.spawn_critical(&scope, |_| std::future::pending::<Res>());
            let c = sp.spawn_optional(&scope, |_| std::future::pending::<Res>());
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
}

async fn scope_cancel_cancels_nested_scopes(sp: Spawner) {
    let live = Live::default();
    let cancelled = [Flag::default(), Flag::default()];
    let err = with_scope(|scope| {
        let (live, cancelled) = (live.clone(), cancelled.clone());
        async move {
            let outer = scope.clone();
            let (l, c) = (live.clone(), cancelled[0].clone());
            sp.spawn(&scope, move |_| async move {
                with_scope(|inner| async move {
                    sp.spawn(&inner, stubborn(&l, &c));
                    Res::Ok(())
                })
                .await?;
                Res::Ok(())
            });
            let nested = with_scope(|inner| async move {
                sp.spawn(&inner, stubborn(&live, &cancelled[1]));
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
}

/// After `scope.cancel()`, every spawn (all kinds, plain and named) is
/// refused: its closure is never called, its handle yields `Cancelled`
/// (`None` for optional) at once.
async fn scope_cancel_refuses_later_spawns_without_calling_the_closure(sp: Spawner) {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let err = with_scope(|scope| async move {
        scope.cancel();
        let normal = sp.spawn(&scope, counted(&c));
        let critical = sp.spawn_critical(&scope, counted(&c));
        let optional = sp.spawn_optional(&scope, counted(&c));
        let named = sp.named(&scope, "late").spawn(counted(&c));
        let named_critical = sp.named(&scope, "late").spawn_critical(counted(&c));
        let named_optional = sp.named(&scope, "late").spawn_optional(counted(&c));
        assert!(normal.is_finished() && named.is_finished());
        assert!(matches!(normal.await, Err(TaskError::Cancelled)));
        assert!(matches!(critical.await, Err(TaskError::Cancelled)));
        assert_eq!(optional.await, None);
        assert!(matches!(named.await, Err(TaskError::Cancelled)));
        assert!(matches!(named_critical.await, Err(TaskError::Cancelled)));
        assert_eq!(named_optional.await, None);
        settle().await;
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert_eq!(called.load(SeqCst), 0, "a refused closure was called");
}

/// After `scope.cancel()`, a task in its grace period that spawns (through
/// `Scope::current()`) is refused too.
async fn scope_cancel_refuses_spawns_from_tasks_in_their_grace_period(sp: Spawner) {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let err = Scope::builder()
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let (started_tx, started) = oneshot::channel::<()>();
            let spawner = sp.spawn(&scope, move |token| async move {
                started_tx.send(()).unwrap();
                token.cancelled().await;
                let late = sp.spawn(&Scope::current().unwrap(), counted(&c));
                Res::Ok(matches!(late.await, Err(TaskError::Cancelled)))
            });
            started.await?;
            scope.cancel();
            assert!(
                spawner.await?,
                "a spawn during the grace period was not refused"
            );
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert_eq!(called.load(SeqCst), 0);
}

// === cancellation mechanics ===

/// Without a grace period, a cancelled task is aborted at once at its
/// `.await`, its token cancelled first and its destructors run.
async fn cancelled_task_is_aborted_at_once_without_grace(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let err = with_scope(|scope| async move {
        let h = sp.spawn(&scope, l.stubborn());
        l.reaches(1).await;
        let start = Instant::now();
        scope.cancel();
        assert!(matches!(h.await, Err(TaskError::Cancelled)));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(l.count(), 0, "the aborted task's destructors have not run");
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert!(
        live.all_tokens_cancelled(),
        "the token was not cancelled before the abort"
    );
}

/// Grace period: a cancelled task's token is cancelled at once, it is
/// aborted after the grace period, and one that ends `Ok` within it (at
/// once or after a flush; Normal or Optional) yields its value.
async fn grace_period_signals_first_then_aborts_and_ok_within_it_counts(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let signalled = Arc::new(OnceLock::new());
    let s = signalled.clone();
    let start = Instant::now();
    let err = Scope::builder()
        .grace(Duration::from_millis(100))
        .run(|scope| async move {
            let (stubborn_live, flusher, quick) = (l.clone(), l.clone(), l.clone());
            let stubborn = sp.spawn(&scope, move |token| async move {
                let _probe = stubborn_live.watch(&token);
                token.cancelled().await;
                s.set(start.elapsed()).unwrap();
                // Ignores the signal from here on: only the abort ends it.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Res::Ok(())
            });
            let flushing = sp.spawn(&scope, move |token| async move {
                let _probe = flusher.watch(&token);
                token.cancelled().await;
                tokio::time::sleep(Duration::from_millis(50)).await; // flush
                Res::Ok("flushed")
            });
            let optional = sp.spawn_optional(&scope, move |token| async move {
                let _probe = quick.watch(&token);
                token.cancelled().await;
                Res::Ok(3)
            });
            l.reaches(3).await;
            scope.cancel();
            assert_eq!(
                optional.await,
                Some(3),
                "an optional task ending Ok during grace lost its value"
            );
            assert_eq!(start.elapsed(), Duration::ZERO);
            assert_eq!(
                flushing.await?,
                "flushed",
                "a task ending Ok during grace lost its value"
            );
            assert_eq!(start.elapsed(), Duration::from_millis(50));
            assert!(matches!(stubborn.await, Err(TaskError::Cancelled)));
            assert_eq!(
                start.elapsed(),
                Duration::from_millis(100),
                "not aborted after grace"
            );
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert_eq!(
        signalled.get(),
        Some(&Duration::ZERO),
        "the token was not cancelled at once"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

async fn grace_period_applies_to_every_cancelled_task_at_once(sp: Spawner) {
    let live = Live::default();
    let cancelled = Flag::default();
    let (l, c) = (live.clone(), cancelled.clone());
    let start = Instant::now();
    let err = Scope::builder()
        .grace(Duration::from_millis(100))
        .run(|scope| async move {
            for _ in 0..5 {
                sp.spawn(&scope, stubborn(&l, &c));
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
}

async fn destructors_of_an_aborted_task_run(sp: Spawner) {
    let live = Live::default();
    let cancelled = Flag::default();
    let (l, c) = (live.clone(), cancelled.clone());
    let err = with_scope(|scope| async move {
        for _ in 0..10 {
            let (l, c) = (l.clone(), c.clone());
            sp.spawn(&scope, move |token| async move {
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
}

// === TaskHandle::cancel() ===

/// `TaskHandle::cancel` on a task of any kind cancels it alone: it yields
/// `Cancelled` (`None`), its destructors run, it is not a failure (no
/// handler sees it), and its sibling and the scope go on, under either policy.
async fn task_handle_cancel_cancels_that_task_alone(sp: Spawner) {
    for policy in [Policy::Cancel, Policy::Supervise] {
        let live = Live::default();
        let seen = Seen::default();
        let l = live.clone();
        let value = Scope::builder()
            .policy(policy)
            .on_error(collecting(&seen))
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let sibling = sp.spawn(&scope, move |token| async move {
                    rx.await.ok();
                    Res::Ok((1, token.is_cancelled()))
                });
                let normal = sp.spawn(&scope, l.pending());
                let critical = sp.spawn_critical(&scope, l.stubborn());
                let optional = sp.spawn_optional(&scope, l.pending());
                l.reaches(3).await;
                normal.cancel();
                critical.cancel();
                optional.cancel();
                assert!(matches!(normal.await, Err(TaskError::Cancelled)));
                assert!(matches!(critical.await, Err(TaskError::Cancelled)));
                assert_eq!(optional.await, None);
                assert_eq!(l.count(), 0, "a cancelled task's destructors have not run");
                assert!(!scope.is_cancelled());
                tx.send(()).unwrap();
                let (v, sibling_cancelled) = sibling.await?;
                assert!(!sibling_cancelled, "the sibling's token was cancelled");
                assert!(
                    scope.errors().is_empty(),
                    "a cancelled task counted as a failure"
                );
                Res::Ok(v)
            })
            .await
            .unwrap_or_else(|e| panic!("{policy:?}: {e}"));
        assert_eq!(value, 1, "cancelling one task failed its scope");
        assert!(seen.lock().unwrap().is_empty());
        assert!(live.all_tokens_cancelled());
    }
}

/// With a grace period, `TaskHandle::cancel` cancels that task's own token
/// at once (not a sibling's) and aborts it after the grace period.
async fn task_handle_cancel_signals_the_token_at_once_then_aborts_after_grace(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let start = Instant::now();
    Scope::builder()
        .grace(Duration::from_millis(100))
        .run(|scope| async move {
            let signalled = Arc::new(OnceLock::new());
            let s = signalled.clone();
            let (sibling_tx, sibling_token) = oneshot::channel::<CancellationToken>();
            let sibling = sp.spawn(&scope, move |token| async move {
                sibling_tx.send(token).unwrap();
                Res::Ok(())
            });
            let victim = sp.spawn(&scope, move |token| async move {
                let _probe = l.watch(&token);
                token.cancelled().await;
                s.set(start.elapsed()).unwrap();
                // Ignores the signal from here on: only the abort ends it.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Res::Ok(())
            });
            let sibling_token = sibling_token.await?;
            live.reaches(1).await;
            victim.cancel();
            assert!(matches!(victim.await, Err(TaskError::Cancelled)));
            assert_eq!(
                signalled.get(),
                Some(&Duration::ZERO),
                "not signalled at once"
            );
            assert_eq!(
                start.elapsed(),
                Duration::from_millis(100),
                "not aborted after grace"
            );
            sibling.await?;
            assert!(
                !sibling_token.is_cancelled(),
                "cancelling one task signalled a sibling"
            );
            assert!(!scope.is_cancelled());
            assert_eq!(live.count(), 0);
            assert!(live.all_tokens_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap();
}

async fn task_handle_cancel_cancels_the_task_token_without_grace(sp: Spawner) {
    // A task may hand its token to work outside it (a blocking thread, a
    // detached helper): a cancelled task's token must be cancelled at once,
    // or that work never learns it should stop.
    with_scope(|scope| async move {
        let token_seen = Arc::new(Mutex::new(None::<CancellationToken>));
        let t = token_seen.clone();
        let victim = sp.spawn(&scope, move |token| {
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
}

async fn task_handle_cancel_after_the_task_ended_keeps_its_value(sp: Spawner) {
    with_scope(|scope| async move {
        let h = sp.spawn(&scope, |_| async { Res::Ok(9) });
        scope.wait_for_completion().await?;
        h.cancel();
        assert_eq!(h.await?, 9);
        Res::Ok(())
    })
    .await
    .unwrap();
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

async fn body_runs_to_its_end_after_a_task_failure(sp: Spawner) {
    let reached_end = Flag::default();
    let r = reached_end.clone();
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(scope.is_cancelled());
        r.set();
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert!(reached_end.get(), "the body was interrupted");
}

async fn body_sees_cancellation_through_handles_at_once(sp: Spawner) {
    let live = Live::default();
    let cancelled = Flag::default();
    let (l, c) = (live.clone(), cancelled.clone());
    let err = with_scope(|scope| async move {
        let handles: Vec<_> = (0..3).map(|_| sp.spawn(&scope, stubborn(&l, &c))).collect();
        settle().await;
        let start = Instant::now();
        sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        for h in handles {
            assert!(matches!(h.await, Err(TaskError::Cancelled)));
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
}

async fn body_sees_cancellation_through_is_cancelled_and_signal(sp: Spawner) {
    let err = with_scope(|scope| async move {
        let signal = scope.signal();
        assert!(!scope.is_cancelled());
        assert!(!signal.is_cancelled());
        let s = scope.clone();
        sp.spawn(&scope, move |_| async move {
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

async fn is_cancelled_after_failure(sp: Spawner) {
    let err = with_scope(|scope| async move {
        let failed = sp.spawn(&scope, |_| async { Err::<(), _>("boom") }).await;
        assert!(matches!(failed, Err(TaskError::Failed(_))));
        assert!(scope.is_cancelled());
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
    let err = with_scope(|scope| async move {
        let failed = sp
            .spawn_critical(&scope, |_| async { Err::<(), _>("boom") })
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
}

async fn is_cancelled_false_after_supervised_and_optional_failures(sp: Spawner) {
    Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            let failed = sp.spawn(&scope, |_| async { Err::<(), _>("boom") }).await;
            assert!(matches!(failed, Err(TaskError::Failed(_))));
            let optional = sp
                .spawn_optional(&scope, |_| async { Err::<(), _>("boom") })
                .await;
            assert_eq!(optional, None);
            assert!(!scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap();
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

async fn is_cancelled_false_after_normal_end_yet_spawns_are_refused(sp: Spawner) {
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
    let late = sp.spawn(&scope, move |_| {
        c.set();
        async { Res::Ok(()) }
    });
    assert!(matches!(late.await, Err(TaskError::Cancelled)));
    assert!(!called.get());
}
