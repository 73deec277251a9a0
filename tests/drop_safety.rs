//! Dropping a scope's future before it ends (SPEC.md, "Rules": "the scope's
//! future is dropped before it ends": every task is aborted at once and none
//! is polled again; nothing keeps running in the background). Each task holds
//! a probe (a drop guard counting live tasks) and counts its polls; after the
//! drop the probes must all be gone and the poll counts frozen. The
//! current_thread tests run once per spawner (`rule::spawn`,
//! `rule::spawn_local`: see `common::per_spawner!`).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use async_scope::{with_scope, Scope, TaskError};
use tokio::sync::Notify;

mod common;

use common::{guard_for, per_spawner, settle, Live, Res, Spawner};

// === helpers ===

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    poll_fn(|cx| Poll::Ready(fut.take().expect("polled once").poll(cx))).await
}

/// Drops `run` and checks, on a current_thread runtime, that no task of it
/// is polled again and every one is gone once the runtime has had a turn.
async fn drop_and_check<F: Future>(run: Pin<Box<F>>, live: &Live) {
    drop(run);
    let polls = live.polls();
    settle().await;
    assert_eq!(
        live.polls(),
        polls,
        "a task was polled after the scope's future was dropped"
    );
    assert_eq!(live.count(), 0, "a task outlived the scope's future");
    assert!(
        live.all_tokens_cancelled(),
        "a task was dropped with its token not cancelled"
    );
}

// === current_thread: exact, once per spawner ===

per_spawner!(
    dropping_before_the_first_poll_runs_nothing,
    dropping_while_the_body_is_pending_aborts_every_task,
    dropping_aborts_woken_tasks_before_they_are_polled,
    dropping_after_the_body_returned_aborts_every_task,
    dropping_during_the_grace_period_aborts_at_once,
    dropping_aborts_tasks_waiting_for_a_slot,
    dropping_aborts_the_tasks_of_a_nested_scope_in_the_body,
    dropping_aborts_the_tasks_of_a_nested_scope_in_a_task,
    dropping_never_polls_the_tasks_of_a_nested_scope_in_a_task_again,
    dropping_through_tokio_time_timeout_leaves_nothing_running,
    dropping_through_select_leaves_nothing_running,
    a_kept_handle_refuses_spawns_after_the_drop,
    a_destructor_spawning_into_the_dropped_scope_is_refused,
);

async fn dropping_before_the_first_poll_runs_nothing(sp: Spawner) {
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    let run = with_scope(move |scope| {
        c.store(true, SeqCst);
        async move {
            sp.spawn(&scope, |_| async { Res::Ok(()) });
            Res::Ok(())
        }
    });
    drop(run);
    settle().await;
    assert!(!called.load(SeqCst));
}

/// Dropping the scope's future while its body is pending aborts every task
/// at once (all kinds, busy or asleep ignoring its token): each destructor
/// runs with its token cancelled, and none is polled again.
async fn dropping_while_the_body_is_pending_aborts_every_task(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let mut run = Box::pin(with_scope(|scope| async move {
        for _ in 0..5 {
            sp.spawn(&scope, l.busy());
        }
        sp.spawn_critical(&scope, l.busy());
        sp.spawn_optional(&scope, l.busy());
        sp.spawn(&scope, l.stubborn());
        std::future::pending::<()>().await;
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.count(), 8);
    assert!(live.polls() >= 7);
    drop_and_check(run, &live).await;
}

async fn dropping_aborts_woken_tasks_before_they_are_polled(sp: Spawner) {
    let live = Live::default();
    let notify = Arc::new(Notify::new());
    let (l, n) = (live.clone(), notify.clone());
    let mut run = Box::pin(with_scope(|scope| async move {
        for _ in 0..5 {
            sp.spawn(&scope, l.woken_by(&n));
        }
        std::future::pending::<()>().await;
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.polls(), 5);
    // Every task is now in the run queue; the drop must still win.
    notify.notify_waiters();
    drop_and_check(run, &live).await;
}

async fn dropping_after_the_body_returned_aborts_every_task(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let mut run = Box::pin(with_scope(|scope| async move {
        for _ in 0..5 {
            sp.spawn(&scope, l.busy());
        }
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.count(), 5);
    drop_and_check(run, &live).await;
}

async fn dropping_during_the_grace_period_aborts_at_once(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let mut run = Box::pin(Scope::builder().grace(Duration::from_secs(3600)).run(
        |scope| async move {
            for _ in 0..5 {
                sp.spawn(&scope, l.busy());
            }
            settle().await;
            scope.cancel();
            Res::Ok(())
        },
    ));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(
        live.count(),
        5,
        "the tasks should still be in their grace period"
    );
    drop_and_check(run, &live).await;
}

async fn dropping_aborts_tasks_waiting_for_a_slot(sp: Spawner) {
    let live = Live::default();
    let called = Arc::new(AtomicUsize::new(0));
    let (l, c) = (live.clone(), called.clone());
    let mut run = Box::pin(Scope::builder().max_concurrency(1).run(|scope| async move {
        sp.spawn(&scope, l.busy());
        for _ in 0..5 {
            let c = c.clone();
            sp.spawn(&scope, move |_| {
                c.fetch_add(1, SeqCst);
                async { Res::Ok(()) }
            });
        }
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    drop_and_check(run, &live).await;
    assert_eq!(called.load(SeqCst), 0, "a waiting task ran after the drop");
}

async fn dropping_aborts_the_tasks_of_a_nested_scope_in_the_body(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let mut run = Box::pin(with_scope(|scope| async move {
        sp.spawn(&scope, l.busy());
        with_scope(|inner| async move {
            for _ in 0..3 {
                sp.spawn(&inner, l.busy());
            }
            Res::Ok(())
        })
        .await?;
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.count(), 4);
    drop_and_check(run, &live).await;
}

/// A scope whose only task runs a nested scope of three busy tasks.
fn nested_in_a_task(
    sp: Spawner,
    live: &Live,
) -> Pin<Box<impl Future<Output = Result<(), async_scope::ScopeError>>>> {
    let l = live.clone();
    Box::pin(with_scope(move |scope| async move {
        sp.spawn(&scope, move |_| async move {
            with_scope(|inner| async move {
                for _ in 0..3 {
                    sp.spawn(&inner, l.busy());
                }
                Res::Ok(())
            })
            .await?;
            Res::Ok(())
        });
        Res::Ok(())
    }))
}

async fn dropping_aborts_the_tasks_of_a_nested_scope_in_a_task(sp: Spawner) {
    let live = Live::default();
    let mut run = nested_in_a_task(sp, &live);
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.count(), 3);
    drop(run);
    settle().await;
    assert_eq!(live.count(), 0, "a nested task outlived the scope's future");
    assert!(live.all_tokens_cancelled());
}

async fn dropping_never_polls_the_tasks_of_a_nested_scope_in_a_task_again(sp: Spawner) {
    let live = Live::default();
    let mut run = nested_in_a_task(sp, &live);
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert_eq!(live.count(), 3);
    drop_and_check(run, &live).await;
}

async fn dropping_through_tokio_time_timeout_leaves_nothing_running(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(1),
        with_scope(|scope| async move {
            for _ in 0..5 {
                sp.spawn(&scope, l.stubborn());
            }
            sp.spawn(&scope, move |_| async move {
                with_scope(|inner| async move {
                    sp.spawn(&inner, l.stubborn());
                    Res::Ok(())
                })
                .await?;
                Res::Ok(())
            });
            Res::Ok(())
        }),
    )
    .await;
    assert!(
        out.is_err(),
        "the scope should have been cut off by the timeout"
    );
    settle().await;
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

async fn dropping_through_select_leaves_nothing_running(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let winner = tokio::select! {
        _ = with_scope(|scope| async move {
            for _ in 0..5 {
                sp.spawn(&scope, l.busy());
            }
            settle().await;
            let _ = tx.send(());
            std::future::pending::<()>().await;
            Res::Ok(())
        }) => "scope",
        _ = rx => "other",
    };
    assert_eq!(winner, "other");
    let polls = live.polls();
    settle().await;
    assert_eq!(live.polls(), polls);
    assert_eq!(live.count(), 0);
}

async fn a_kept_handle_refuses_spawns_after_the_drop(sp: Spawner) {
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    let live = Live::default();
    let l = live.clone();
    let mut run = Box::pin(with_scope(|scope| async move {
        *k.lock().unwrap() = Some(scope.clone());
        sp.spawn(&scope, l.busy());
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    drop_and_check(run, &live).await;
    let scope = keep.lock().unwrap().take().unwrap();
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    let late = sp.spawn(&scope, move |_| {
        c.store(true, SeqCst);
        async { Res::Ok(()) }
    });
    assert!(matches!(late.await, Err(TaskError::Cancelled)));
    settle().await;
    assert!(!called.load(SeqCst));
}

async fn a_destructor_spawning_into_the_dropped_scope_is_refused(sp: Spawner) {
    struct SpawnOnDrop(Scope, Arc<AtomicBool>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let called = self.1.clone();
            // Dropping the handle does not cancel the task (if it ran at all).
            drop(self.0.spawn(move |_| {
                called.store(true, SeqCst);
                async { Res::Ok(()) }
            }));
        }
    }
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    let mut run = Box::pin(with_scope(|scope| async move {
        let s = scope.clone();
        sp.spawn(&scope, move |_| async move {
            let _guard = SpawnOnDrop(s, c);
            std::future::pending::<()>().await;
            Res::Ok(())
        });
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    drop(run);
    settle().await;
    assert!(
        !called.load(SeqCst),
        "a task started after the scope's future was dropped"
    );
}

// === multi_thread: eventually, and never again ===

/// Dropping a scope's future on a multi-thread runtime: every task (nested
/// ones too) is gone soon after, none is polled again, and each found its
/// token cancelled when it was dropped. Guards bug H (docs/RELIABILITY.md):
/// `kill` aborted before it cancelled the token (failed 10–65% of runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_on_multi_thread_leaves_nothing_running() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(Duration::from_secs(60), async move {
        let live = Live::default();
        let l = live.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(with_scope(|scope| async move {
            for _ in 0..20 {
                scope.spawn(l.busy());
            }
            scope.spawn(move |_| async move {
                with_scope(|inner| async move {
                    for _ in 0..5 {
                        inner.spawn(l.busy());
                    }
                    Res::Ok(())
                })
                .await?;
                Res::Ok(())
            });
            let _ = tx.send(());
            std::future::pending::<()>().await;
            Res::Ok(())
        }));
        rx.await.unwrap();
        live.reaches(25).await; // every task started
        run.abort(); // drops the scope's future
        assert!(run.await.unwrap_err().is_cancelled());
        // `run` ends only after its future was dropped, so every task has been
        // aborted: no poll can begin from here. Only a poll already under way
        // on a worker (one per worker at most) can still be counted.
        let polls_at_drop = live.polls();
        live.reaches(0).await; // every task gone
        let late = live.polls() - polls_at_drop;
        assert!(
            late <= 2,
            "{late} polls counted after the scope's future was dropped"
        );
        // No task's future exists any more: none can be polled from here.
        assert!(
            live.all_tokens_cancelled(),
            "a task was dropped with its token not cancelled"
        );
    })
    .await;
}
