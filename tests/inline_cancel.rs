//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow") and cancellation:
//! `scope.cancel()` and `signal().cancel()` (every inline token cancelled,
//! later inline spawns refused), the grace period (zero: the inline future is
//! dropped at once, its abort; else it may finish within grace), a task's own
//! token (`TaskHandle::cancel`, a task cancelling its own token, a task
//! cancelling its scope), `max_concurrency` shared with spawned tasks,
//! timeout, shutdown and `shutdown_on`. Dropping the scope's future and
//! `Inline` handles kept after the scope ended: `inline_drop.rs`.
//!
//! Time is paused on a current_thread runtime: "at once" and "after the grace
//! period" are exact instants of the virtual clock.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope_inline, CancellationToken, Reason, Scope, TaskError, TaskState};
use tokio::time::{sleep, Instant};

mod common;
use common::{
    counted, guard, inline_refuses_spawns, reason_is_cancelled, settle, watcher, Live, Res,
};

const GRACES: [Duration; 2] = [Duration::ZERO, Duration::from_secs(10)];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancel_cancels_every_inline_token_and_refuses_later_spawns() {
    for by_signal in [false, true] {
        let live = &Live::default();
        let err = guard(with_scope_inline(|scope, inline| async move {
            let handles = [
                inline.spawn(live.pending()),
                inline.spawn(live.stubborn()),
                inline.spawn_critical(live.pending()),
            ];
            let optional = inline.spawn_optional(live.pending());
            tokio::task::yield_now().await;
            assert_eq!(live.count(), 4);
            if by_signal {
                scope.signal().cancel();
            } else {
                scope.cancel();
            }
            // Noticed at once, before the run loop has had a turn.
            inline_refuses_spawns(&inline).await;
            for handle in handles {
                assert!(matches!(handle.await, Err(TaskError::Cancelled)));
            }
            assert_eq!(optional.await, None);
            Res::Ok(())
        }))
        .await
        .unwrap_err();
        assert!(reason_is_cancelled(&err), "{err}");
        assert!(err.failures().is_empty());
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled(), "by_signal {by_signal}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn zero_grace_drops_the_inline_future_at_once_and_never_polls_it_again() {
    let live = &Live::default();
    guard(with_scope_inline(|scope, inline| async move {
        let busy = inline.spawn(live.busy());
        let waiting = inline.spawn(live.pending());
        while live.polls() < 3 {
            tokio::task::yield_now().await;
        }
        let at = Instant::now();
        scope.cancel();
        let polls = live.polls();
        tokio::task::yield_now().await; // one turn of the run loop
        assert_eq!(live.count(), 0, "dropped on the run loop's next turn");
        settle().await;
        assert_eq!(live.polls(), polls, "polled after its abort");
        assert!(matches!(busy.await, Err(TaskError::Cancelled)));
        assert!(matches!(waiting.await, Err(TaskError::Cancelled)));
        assert_eq!(Instant::now(), at);
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(live.all_tokens_cancelled());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn with_a_grace_period_an_inline_task_may_finish_else_it_is_dropped_after_it() {
    let grace = ms(100);
    let live = &Live::default();
    let start = Instant::now();
    let err = guard(
        Scope::builder()
            .grace(grace)
            .run_inline(|scope, inline| async move {
                let cooperative = inline.spawn(watcher(live, start));
                let late = inline.spawn(move |token| async move {
                    let _probe = live.watch(&token);
                    token.cancelled().await;
                    sleep(ms(60)).await; // within grace
                    Res::Ok("finished")
                });
                let stubborn = inline.spawn(live.stubborn());
                sleep(ms(5)).await;
                scope.cancel();
                assert_eq!(cooperative.await?, ms(5), "its token is cancelled at once");
                assert_eq!(late.await?, "finished");
                assert_eq!(start.elapsed(), ms(65));
                assert!(matches!(stubborn.await, Err(TaskError::Cancelled)));
                assert_eq!(
                    start.elapsed(),
                    ms(5) + grace,
                    "dropped after the grace period"
                );
                Res::Ok(())
            }),
    )
    .await
    .unwrap_err();
    assert!(reason_is_cancelled(&err));
    assert_eq!(live.count(), 0);
}

/// `TaskHandle::cancel` on one inline task reaches it alone: no sibling's token
/// (inline or spawned), not the scope; it yields `Cancelled`, at once or
/// after the grace period; it is not a failure.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn handle_cancel_reaches_that_inline_task_alone() {
    for grace in GRACES {
        let tokens = &Mutex::new(Vec::new());
        let live = &Live::default();
        let keep = |token: CancellationToken| tokens.lock().unwrap().push(token);
        let out = guard(Scope::builder().grace(grace).run_inline(|scope, inline| {
            let spawned_tokens = Arc::new(Mutex::new(Vec::new()));
            async move {
                let victim = inline.spawn(move |token| {
                    keep(token.clone());
                    let probe = live.watch(&token);
                    async move {
                        let _probe = probe;
                        sleep(Duration::from_secs(3600)).await; // ignores its token
                        Res::Ok(())
                    }
                });
                let sibling = inline.spawn(move |token| {
                    keep(token.clone());
                    async move {
                        token.cancelled().await;
                        Res::Ok(())
                    }
                });
                let t = spawned_tokens.clone();
                let spawned = scope.spawn(move |token| {
                    t.lock().unwrap().push(token.clone());
                    async move {
                        token.cancelled().await;
                        Res::Ok(())
                    }
                });
                tokio::task::yield_now().await;
                let at = Instant::now();
                victim.cancel();
                assert!(tokens.lock().unwrap()[0].is_cancelled(), "at once");
                assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                assert_eq!(Instant::now(), at + grace);
                assert_eq!(live.count(), 0, "dropped");
                assert!(!tokens.lock().unwrap()[1].is_cancelled());
                assert!(!spawned_tokens.lock().unwrap()[0].is_cancelled());
                assert!(!scope.is_cancelled() && !sibling.is_finished());
                sibling.cancel();
                spawned.cancel();
                let _ = (sibling.await, spawned.await);
                Res::Ok(scope.errors())
            }
        }))
        .await;
        assert!(out.unwrap().is_empty(), "a cancelled task is not a failure");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inline_task_cancelling_its_own_token_aborts_nothing() {
    for grace in GRACES {
        guard(
            Scope::builder()
                .grace(grace)
                .run_inline(|scope, inline| async move {
                    let sibling = inline.spawn(|token| async move {
                        sleep(Duration::from_secs(1)).await;
                        Res::Ok(token.is_cancelled())
                    });
                    let selfish = inline.spawn(|token| async move {
                        token.cancel();
                        tokio::task::yield_now().await; // not aborted here
                        sleep(ms(10)).await;
                        Res::Ok(token.is_cancelled())
                    });
                    assert!(selfish.await?, "it goes on and ends Ok");
                    assert!(!scope.is_cancelled() && !scope.signal().is_cancelled());
                    assert!(!sibling.await?, "a sibling's token was cancelled");

                    // Its handle's cancel still aborts it, after the grace period.
                    let victim = inline.spawn(|token| async move {
                        token.cancel();
                        std::future::pending::<()>().await;
                        Res::Ok(())
                    });
                    sleep(Duration::from_secs(1)).await;
                    assert!(!victim.is_finished(), "cancelling its own token aborted it");
                    let at = Instant::now();
                    victim.cancel();
                    assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                    assert_eq!(Instant::now(), at + grace);
                    Res::Ok(())
                }),
        )
        .await
        .unwrap();
    }
}

/// Inline and spawned tasks share the limit and start in spawn order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_concurrency_is_shared_with_spawned_tasks_in_spawn_order() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let s = starts.clone();
    let (r, m) = (running.clone(), most.clone());
    guard(
        Scope::builder()
            .max_concurrency(2)
            .run_inline(|scope, inline| async move {
                let task = |i: u64| {
                    let (s, r, m) = (s.clone(), r.clone(), m.clone());
                    move |_| async move {
                        s.lock().unwrap().push(i);
                        m.fetch_max(r.fetch_add(1, SeqCst) + 1, SeqCst);
                        sleep(ms(10 * (i + 1))).await; // no two end at once
                        r.fetch_sub(1, SeqCst);
                        Res::Ok(i)
                    }
                };
                let mut handles = Vec::new();
                for i in 0..7 {
                    handles.push(if i % 2 == 0 {
                        inline.spawn(task(i))
                    } else {
                        scope.spawn(task(i))
                    });
                }
                tokio::task::yield_now().await;
                let waiting = scope
                    .snapshot()
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Waiting)
                    .count();
                assert_eq!(waiting, 5);
                for (i, handle) in handles.into_iter().enumerate() {
                    assert_eq!(handle.await?, i as u64);
                }
                Res::Ok(())
            }),
    )
    .await
    .unwrap();
    let starts = starts.lock().unwrap();
    let mut first_two = starts[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, [0, 1]);
    assert_eq!(starts[2..], [2, 3, 4, 5, 6]);
    assert_eq!(most.load(SeqCst), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn waiting_inline_tasks_never_start_once_cancelled() {
    let called = Arc::new(AtomicUsize::new(0));
    let live = &Live::default();
    let c = called.clone();
    guard(
        Scope::builder()
            .max_concurrency(1)
            .run_inline(|scope, inline| async move {
                let first = inline.spawn(live.pending());
                let waiting = [
                    inline.spawn(counted(&c)),
                    inline.spawn_critical(counted(&c)),
                    scope.spawn(counted(&c)),
                ];
                let optional = inline.spawn_optional(counted(&c));
                settle().await;
                assert_eq!(live.count(), 1);
                scope.cancel();
                assert!(matches!(first.await, Err(TaskError::Cancelled)));
                for handle in waiting {
                    assert!(matches!(handle.await, Err(TaskError::Cancelled)));
                }
                assert_eq!(optional.await, None);
                Res::Ok(())
            }),
    )
    .await
    .unwrap_err();
    settle().await;
    assert_eq!(
        called.load(SeqCst),
        0,
        "a waiting task's closure was called"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeout_fails_the_scope_and_drops_inline_tasks() {
    let live = &Live::default();
    let start = Instant::now();
    let err = guard(
        Scope::builder()
            .timeout(ms(50))
            .run_inline(|_scope, inline| async move {
                let pending = inline.spawn(live.pending());
                inline.spawn(live.stubborn());
                assert!(matches!(pending.await, Err(TaskError::Cancelled)));
                Res::Ok(())
            }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
    assert_eq!(start.elapsed(), ms(50));
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_cancels_inline_tasks_and_is_not_a_failure() {
    let live = &Live::default();
    let out = guard(with_scope_inline(|scope, inline| async move {
        let pending = inline.spawn(live.pending());
        let optional = inline.spawn_optional(live.stubborn());
        tokio::task::yield_now().await;
        scope.shutdown();
        inline_refuses_spawns(&inline).await;
        assert!(matches!(pending.await, Err(TaskError::Cancelled)));
        assert_eq!(optional.await, None);
        assert!(scope.is_cancelled());
        Res::Ok(scope.errors())
    }))
    .await;
    assert!(out.unwrap().is_empty());
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());

    let start = Instant::now();
    let out = guard(Scope::builder().shutdown_on(sleep(ms(30))).run_inline(
        |_scope, inline| async move {
            let pending = inline.spawn(live.pending());
            assert!(matches!(pending.await, Err(TaskError::Cancelled)));
            Res::Ok("shut down")
        },
    ))
    .await;
    assert_eq!(out.unwrap(), "shut down");
    assert_eq!(start.elapsed(), ms(30));
    assert_eq!(live.count(), 0);
}

/// An inline task that cancels its scope, with zero grace: no inline task is
/// polled after, not even one woken at the same instant, nor the canceller
/// past its next `.await`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inline_task_cancelling_its_scope_stops_every_inline_task_at_once() {
    let after = &AtomicUsize::new(0);
    let err = guard(with_scope_inline(|scope, inline| async move {
        for i in 0..6 {
            let scope = scope.clone();
            inline.spawn(move |_| async move {
                sleep(ms(10)).await; // all woken at the same instant
                if i == 3 {
                    scope.cancel();
                    tokio::task::yield_now().await;
                    after.fetch_add(1, SeqCst);
                } else if scope.is_cancelled() {
                    after.fetch_add(1, SeqCst);
                }
                sleep(ms(10)).await;
                after.fetch_add(1, SeqCst);
                Res::Ok(())
            });
        }
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(reason_is_cancelled(&err));
    assert_eq!(
        after.load(SeqCst),
        0,
        "an inline task was polled after the cancel"
    );
}

/// `TaskHandle::cancel` on an inline task waiting for a `max_concurrency`
/// slot: it never starts, and the next one takes the slot in its turn.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_waiting_inline_task_cancelled_by_its_handle_never_starts() {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    guard(
        Scope::builder()
            .max_concurrency(1)
            .run_inline(|_scope, inline| async move {
                let first = inline.spawn(|token| async move {
                    token.cancelled().await;
                    Res::Ok(1)
                });
                let skipped = inline.spawn(counted(&c));
                let next = inline.spawn(|_| async { Res::Ok(3) });
                settle().await;
                skipped.cancel();
                assert!(matches!(skipped.await, Err(TaskError::Cancelled)));
                assert!(!first.is_finished() && !next.is_finished());
                first.cancel();
                assert!(first.await.is_err());
                assert_eq!(next.await?, 3);
                Res::Ok(())
            }),
    )
    .await
    .unwrap();
    assert_eq!(called.load(SeqCst), 0);
}
