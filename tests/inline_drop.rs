//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow", rows "the
//! scope's future is dropped" and "an `Inline` handle used after its scope
//! ended"): dropping the scope's future drops its inline tasks with it, at
//! once, queued ones too, and none is polled after; an `Inline` handle kept
//! after its scope ended (or after its future was dropped) refuses spawns:
//! the closure is never called, the handle yields `Cancelled` (`None`).
//!
//! Time is paused on a current_thread runtime.

use std::sync::{Arc, Mutex};

use async_scope::{with_scope_inline, Inline, TaskError};

mod common;
use common::{guard, inline_refuses_spawns, reason_is_cancelled, settle, Live, Res};

/// Dropping the scope's future drops its inline tasks with it, at once; none
/// is polled after; its spawned tasks are aborted.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_the_scope_future_drops_its_inline_tasks_at_once() {
    let live = &Live::default();
    let spawned = Live::default();
    let s = spawned.clone();
    guard(async {
        let mut fut = Box::pin(with_scope_inline(|scope, inline| async move {
            inline.spawn(live.busy());
            inline.spawn(live.stubborn());
            let nested = inline.clone();
            inline.spawn(move |_| async move {
                nested.spawn(live.pending());
                std::future::pending::<Res>().await
            });
            scope.spawn(s.pending());
            std::future::pending::<Res>().await
        }));
        tokio::select! {
            _ = &mut fut => unreachable!("the scope never ends by itself"),
            _ = async { live.reaches(3).await; spawned.reaches(1).await; while live.polls() < 2 { tokio::task::yield_now().await } } => {}
        }
        let polls = live.polls();
        drop(fut);
        assert_eq!(live.count(), 0, "inline tasks dropped with the future");
        assert_eq!(live.polls(), polls);
        settle().await;
        assert_eq!(live.polls(), polls, "polled after the drop");
        assert_eq!(spawned.count(), 0, "spawned tasks aborted");
    })
    .await;
}

/// An `Inline` handle kept after its scope ended (returned by the body, for
/// `'static` data) refuses spawns as a `Scope` does, and nothing panics.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inline_handle_kept_after_its_scope_ended_refuses_spawns() {
    let kept: Inline<'static> = guard(with_scope_inline(|_scope, inline| async move {
        inline.spawn(|_| async { Res::Ok(()) }).await?;
        Res::Ok(inline)
    }))
    .await
    .unwrap();
    assert!(!kept.scope().is_cancelled(), "it ended normally");
    inline_refuses_spawns(&kept).await;
    inline_refuses_spawns(&kept.clone()).await;

    // Also a clone kept out of a scope that failed.
    let slot = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let err = guard(with_scope_inline(
        |scope, inline: Inline<'static>| async move {
            *s.lock().unwrap() = Some(inline.clone());
            scope.cancel();
            Res::Ok(())
        },
    ))
    .await
    .unwrap_err();
    assert!(reason_is_cancelled(&err));
    let kept = slot.lock().unwrap().take().unwrap();
    inline_refuses_spawns(&kept).await;
}

/// A spawn through an `Inline` clone after the scope's future was dropped:
/// refused, and what the closure holds is dropped at once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_spawn_after_the_scope_future_was_dropped_is_refused() {
    let live = Live::default();
    let slot = Arc::new(Mutex::new(None::<Inline<'static>>));
    let s = slot.clone();
    let fut = with_scope_inline(move |_scope, inline| async move {
        *s.lock().unwrap() = Some(inline);
        std::future::pending::<Res>().await
    });
    guard(async {
        tokio::select! {
            _ = fut => unreachable!(),
            () = settle() => {}
        }
    })
    .await;
    let kept = slot.lock().unwrap().take().unwrap();
    let probe = live.hold();
    let handle = kept.spawn(move |_| async move {
        let _probe = probe;
        Res::Ok(())
    });
    assert_eq!(live.count(), 0, "the refused closure was kept");
    assert!(matches!(handle.await, Err(TaskError::Cancelled)));
    inline_refuses_spawns(&kept).await;
}

/// A task queued by a spawn from outside the run loop (a spawned task), not
/// yet taken when the scope's future is dropped, is dropped with it, even
/// though it holds an `Inline` clone: its closure is never called.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_queued_inline_task_is_dropped_with_the_scope_future() {
    let live = Live::default();
    let (queued_tx, queued) = tokio::sync::oneshot::channel();
    let l = live.clone();
    let handle_slot = Arc::new(Mutex::new(None));
    let h = handle_slot.clone();
    let fut = with_scope_inline(move |scope, inline: Inline<'static>| async move {
        scope.spawn(move |_| async move {
            let probe = l.hold();
            let clone = inline.clone();
            let handle = inline.spawn(move |_| async move {
                let _keep = (probe, clone);
                unreachable!("the queued task was polled");
                #[allow(unreachable_code)]
                Res::Ok(())
            });
            *h.lock().unwrap() = Some(handle);
            queued_tx.send(()).unwrap();
            std::future::pending::<Res>().await
        });
        std::future::pending::<Res>().await
    });
    guard(async {
        tokio::select! {
            biased;
            _ = queued => {}
            _ = fut => unreachable!(),
        }
    })
    .await;
    assert_eq!(
        live.count(),
        0,
        "the queued task outlived the scope's future"
    );
    let handle = handle_slot.lock().unwrap().take().unwrap();
    assert!(matches!(handle.await, Err(TaskError::Cancelled)));
}

/// Panics in its destructor: what a user's future may hold.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("inline-drop test: a destructor panicked");
        }
    }
}

/// Sets its flag when dropped.
struct SetsOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetsOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A destructor that panics as the run loop drops its inline task (the
/// scope cancelled, no grace period) ends that task alone: its siblings are
/// dropped too, the scope ends with its reason, nothing unwinds out of its
/// future, and a parent scope is not left waiting (review of session 5: the
/// set used to leak the other futures and the parent hung).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panicking_destructor_of_an_aborted_inline_task_drops_its_siblings_and_ends_the_scope() {
    common::quiet_panics("inline-drop test");
    let sibling_dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = sibling_dropped.clone();
    let outer = guard(async_scope::with_scope(|outer| async move {
        let inner = outer.spawn(move |_| async move {
            with_scope_inline(|scope, inline| async move {
                inline.spawn(move |_| async move {
                    let _flag = SetsOnDrop(flag);
                    std::future::pending::<Res>().await
                });
                // Spawned last, so dropped first by the set.
                inline.spawn(|_| async {
                    let _boom = PanicsOnDrop;
                    std::future::pending::<Res>().await
                });
                settle().await;
                scope.cancel();
                Res::Ok(())
            })
            .await
        });
        let inner = inner.await;
        assert!(
            matches!(&inner, Err(TaskError::Failed(e)) if e.to_string().contains("cancelled")),
            "the inline scope ends with its reason, not a panic: {inner:?}"
        );
        Res::Ok(())
    }))
    .await;
    assert!(outer.is_err(), "the failing task fails the outer scope");
    assert!(sibling_dropped.load(std::sync::atomic::Ordering::SeqCst));
}

/// A destructor that panics as its inline task is cancelled through its
/// handle is no failure: the handle yields `Cancelled`, the scope ends `Ok`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panicking_destructor_of_an_inline_task_cancelled_by_its_handle_is_no_failure() {
    common::quiet_panics("inline-drop test");
    let out = guard(with_scope_inline(|_scope, inline| async move {
        let task = inline.spawn(|_| async {
            let _boom = PanicsOnDrop;
            std::future::pending::<Res>().await
        });
        settle().await;
        task.cancel();
        assert!(matches!(task.await, Err(TaskError::Cancelled)));
        Res::Ok(())
    }))
    .await;
    assert!(out.is_ok(), "{out:?}");
}
