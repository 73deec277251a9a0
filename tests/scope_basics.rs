//! The life of one scope: what the body's outcome means (`Ok`, `Err`,
//! panic), what task handles yield, `wait_for_completion`, `Scope::current`,
//! and a `Scope` handle kept after its scope ended (SPEC.md, "Rules": the
//! body rows, "a task handle is awaited", `wait_for_completion()`, "a `Scope`
//! handle used after its scope ended", "nesting" for `Scope::current`; the
//! "first event decides" paragraph). Each rule test that spawns runs once
//! per spawner (`rule::spawn`, `rule::spawn_local`: see `common::per_spawner!`).

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_scope::{with_scope, Policy, Reason, Scope, ScopeError, TaskError};
use tokio::sync::oneshot;

mod common;

use common::{
    counted, fails, guard, is_failure, panic_text, per_spawner, reason_is_cancelled, settle,
    Failing, Flag, Live, Res, Spawner, ON_PURPOSE,
};

// === helpers ===

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    poll_fn(|cx| Poll::Ready(fut.take().expect("polled once").poll(cx))).await
}

/// Awaits `fut`, catching a panic it raises.
async fn catch_panic<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut fut = pin!(fut);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

#[derive(Debug, PartialEq)]
struct InvalidInput(u32);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid input {}", self.0)
    }
}

impl std::error::Error for InvalidInput {}

// === the rules that concern tasks, once per spawner ===

per_spawner!(
    body_ok_returns_value_after_every_task_ended,
    body_ok_but_scope_failed_meanwhile_returns_err,
    body_ok_waits_for_tasks_spawned_by_tasks,
    body_err_cancels_every_task_and_fails_with_body_failed,
    body_err_refuses_later_spawns,
    body_panic_joins_every_task_then_the_panic_continues,
    body_panic_lets_tasks_use_their_grace_before_the_panic_continues,
    a_handle_awaited_yields_ok_failed_panicked_or_cancelled,
    dropping_a_handle_does_not_cancel_its_task,
    handle_is_finished_once_the_task_ended,
    wait_for_completion_waits_for_every_task_spawned_so_far,
    wait_for_completion_is_ok_despite_supervised_and_optional_failures,
    wait_for_completion_is_ok_despite_optional_failure_under_cancel,
    wait_for_completion_errs_when_the_scope_has_failed,
    ended_scope_refuses_spawns_without_calling_the_closure,
    failed_scope_refuses_spawns_without_calling_the_closure,
    scope_that_ended_normally_is_not_cancelled,
    current_is_the_scope_in_its_body_and_its_tasks,
    current_is_visible_to_the_task_closure,
    first_event_decides_reason_task_failure_then_body_err,
    first_event_decides_reason_body_err_then_task_failure,
    first_event_decides_reason_cancel_then_failures,
    first_event_decides_reason_critical_then_cancel,
    scope_error_failures_match_errors,
);

// === the body returns Ok(v) ===

async fn body_ok_returns_value_after_every_task_ended(sp: Spawner) {
    let (tx, rx) = oneshot::channel::<()>();
    let task_done = Flag::default();
    let body_done = Flag::default();
    let (t, b) = (task_done.clone(), body_done.clone());
    let mut run = pin!(with_scope(|scope| async move {
        sp.spawn(&scope, move |_| async move {
            rx.await.ok();
            t.set();
            Res::Ok(())
        });
        b.set();
        Res::Ok(7)
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert!(body_done.get());
    assert!(
        poll_once(run.as_mut()).await.is_pending(),
        "the scope ended before its task"
    );
    tx.send(()).unwrap();
    assert_eq!(run.await.unwrap(), 7);
    assert!(task_done.get());
}

async fn body_ok_but_scope_failed_meanwhile_returns_err(sp: Spawner) {
    let (tx, rx) = oneshot::channel::<()>();
    let mut run = pin!(with_scope(|scope| async move {
        sp.spawn(&scope, move |_| async move {
            rx.await.ok();
            Err::<(), _>("late failure")
        });
        Res::Ok(7)
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    tx.send(()).unwrap();
    let err = run.await.unwrap_err();
    match err.reason() {
        Reason::TaskFailed(failure) => assert_eq!(failure.error().to_string(), "late failure"),
        other => panic!("unexpected reason {other:?}"),
    }
}

async fn body_ok_waits_for_tasks_spawned_by_tasks(sp: Spawner) {
    let (tx, rx) = oneshot::channel::<()>();
    let grandchild_done = Flag::default();
    let g = grandchild_done.clone();
    let mut run = pin!(with_scope(|scope| async move {
        sp.spawn(&scope, move |_| async move {
            let scope = Scope::current().expect("a task runs in its scope");
            sp.spawn(&scope, move |_| async move {
                rx.await.ok();
                g.set();
                Res::Ok(())
            });
            Res::Ok(())
        });
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    assert!(poll_once(run.as_mut()).await.is_pending());
    tx.send(()).unwrap();
    run.await.unwrap();
    assert!(grandchild_done.get());
}

// === the body returns Err ===

/// The body returns `Err`: every task (all kinds, one ignoring its token)
/// is cancelled with its token and its destructors run, and the scope fails
/// with `BodyFailed` holding the body's own error (type and text).
async fn body_err_cancels_every_task_and_fails_with_body_failed(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, l.pending());
        sp.spawn_critical(&scope, l.pending());
        sp.spawn_optional(&scope, l.stubborn());
        l.reaches(3).await;
        Err::<(), _>(InvalidInput(3))
    })
    .await
    .unwrap_err();
    match err.reason() {
        Reason::BodyFailed(e) => {
            assert_eq!(e.downcast_ref::<InvalidInput>(), Some(&InvalidInput(3)));
            assert_eq!(e.to_string(), "invalid input 3");
        }
        other => panic!("unexpected reason {other:?}"),
    }
    assert!(err.failures().is_empty());
    assert_eq!(live.count(), 0, "a task outlived its scope");
    assert!(
        live.all_tokens_cancelled(),
        "a task's token was not cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn body_err_fails_scope_under_supervise_too() {
    guard(async move {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .run(|_| async { Err::<(), _>("bad request") })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::BodyFailed(e) if e.to_string() == "bad request"));
    })
    .await;
}

async fn body_err_refuses_later_spawns(sp: Spawner) {
    let called = Flag::default();
    let keep = Arc::new(std::sync::Mutex::new(None::<Scope>));
    let k = keep.clone();
    let err = with_scope(|scope| async move {
        *k.lock().unwrap() = Some(scope.clone());
        Err::<(), _>("no")
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::BodyFailed(_)), "{err}");
    let scope = keep.lock().unwrap().take().unwrap();
    let c = called.clone();
    let late = sp.spawn(&scope, move |_| {
        c.set();
        async { Res::Ok(()) }
    });
    assert!(matches!(late.await, Err(TaskError::Cancelled)));
    assert!(!called.get());
}

// === the body panics ===

/// The body panics: the scope cancels and joins its tasks (all with their
/// tokens cancelled, one ignoring its token), then the panic continues.
async fn body_panic_joins_every_task_then_the_panic_continues(sp: Spawner) {
    common::quiet_panics(ON_PURPOSE);
    let live = Live::default();
    let l = live.clone();
    let caught = catch_panic(with_scope(|scope| async move {
        sp.spawn(&scope, l.pending());
        sp.spawn_critical(&scope, l.stubborn());
        l.reaches(2).await;
        if std::hint::black_box(true) {
            panic!("{ON_PURPOSE}body exploded");
        }
        Res::Ok(())
    }))
    .await;
    let payload = caught.expect_err("the body's panic was swallowed");
    assert_eq!(panic_text(&*payload), format!("{ON_PURPOSE}body exploded"));
    // No task had a turn since the panic surfaced: they are gone only if
    // the scope joined them first (an abort alone would leave them to the
    // runtime's next turn).
    assert_eq!(
        live.count(),
        0,
        "the panic continued before the tasks were joined"
    );
    assert!(live.all_tokens_cancelled());
}

async fn body_panic_lets_tasks_use_their_grace_before_the_panic_continues(sp: Spawner) {
    let cleaned = Flag::default();
    let c = cleaned.clone();
    let caught = catch_panic(Scope::builder().grace(Duration::from_secs(1)).run(
        |scope| async move {
            sp.spawn(&scope, move |token| async move {
                token.cancelled().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                c.set();
                Res::Ok(())
            });
            settle().await;
            if std::hint::black_box(true) {
                panic!("body exploded");
            }
            Res::Ok(())
        },
    ))
    .await;
    assert_eq!(panic_text(&*caught.unwrap_err()), "body exploded");
    assert!(
        cleaned.get(),
        "the task was not joined before the panic continued"
    );
}

// === a task handle is awaited ===

/// An awaited handle yields `Ok(value)`, `Failed` with the task's own error
/// (type kept), `Panicked` with the panic's message (fixed or formatted),
/// or `Cancelled` (by its handle or by the scope); `Some`/`None` for optional.
async fn a_handle_awaited_yields_ok_failed_panicked_or_cancelled(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let err = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            let ok = sp.spawn(&scope, |_| async {
                tokio::task::yield_now().await;
                Res::Ok(String::from("value"))
            });
            let failed = sp.spawn(&scope, |_| async { Err::<(), _>(InvalidInput(9)) });
            let panicked = sp.spawn(&scope, fails(Failing::Panic, "oops"));
            let formatted = sp.spawn(&scope, |_| async {
                if std::hint::black_box(true) {
                    panic!("{ON_PURPOSE}formatted {}", 42);
                }
                Res::Ok(())
            });
            let optional = sp.spawn_optional(&scope, |_| async { Res::Ok(5) });
            let cancelled = sp.spawn(&scope, l.pending());
            let forever = sp.spawn(&scope, l.pending());
            assert_eq!(ok.await?, "value");
            match failed.await {
                Err(TaskError::Failed(e)) => {
                    assert_eq!(e.downcast_ref::<InvalidInput>(), Some(&InvalidInput(9)));
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(is_failure(
                &panicked.await.unwrap_err(),
                Failing::Panic,
                "oops"
            ));
            assert!(is_failure(
                &formatted.await.unwrap_err(),
                Failing::Panic,
                "formatted 42"
            ));
            assert_eq!(optional.await, Some(5));
            l.reaches(2).await;
            cancelled.cancel();
            assert!(matches!(cancelled.await, Err(TaskError::Cancelled)));
            scope.cancel();
            assert!(matches!(forever.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(reason_is_cancelled(&err), "{err}");
    assert_eq!(err.failures().len(), 3);
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

async fn dropping_a_handle_does_not_cancel_its_task(sp: Spawner) {
    let (tx, rx) = oneshot::channel::<()>();
    let (tx2, rx2) = oneshot::channel::<()>();
    let done = Flag::default();
    let optional_done = Flag::default();
    let (d, od) = (done.clone(), optional_done.clone());
    let mut run = pin!(with_scope(|scope| async move {
        drop(sp.spawn(&scope, move |_| async move {
            rx.await.ok();
            d.set();
            Res::Ok(())
        }));
        drop(sp.spawn_optional(&scope, move |_| async move {
            rx2.await.ok();
            od.set();
            Res::Ok(())
        }));
        Res::Ok(())
    }));
    assert!(poll_once(run.as_mut()).await.is_pending());
    settle().await;
    tx.send(()).unwrap();
    tx2.send(()).unwrap();
    run.await.unwrap();
    assert!(done.get(), "dropping the handle cancelled the task");
    assert!(
        optional_done.get(),
        "dropping the optional handle cancelled the task"
    );
}

async fn handle_is_finished_once_the_task_ended(sp: Spawner) {
    with_scope(|scope| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let h = sp.spawn(&scope, move |_| async move {
            rx.await.ok();
            Res::Ok(())
        });
        settle().await;
        assert!(!h.is_finished());
        tx.send(()).unwrap();
        scope.wait_for_completion().await?;
        assert!(h.is_finished());
        Res::Ok(())
    })
    .await
    .unwrap();
}

// === wait_for_completion() ===

async fn wait_for_completion_waits_for_every_task_spawned_so_far(sp: Spawner) {
    with_scope(|scope| async move {
        let done = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            let done = done.clone();
            sp.spawn(&scope, move |_| async move {
                rx.await.ok();
                done.fetch_add(1, SeqCst);
                Res::Ok(())
            });
        }
        let mut wait = pin!(scope.wait_for_completion());
        for tx in senders {
            assert!(poll_once(wait.as_mut()).await.is_pending());
            tx.send(()).unwrap();
            settle().await;
        }
        wait.await?;
        assert_eq!(done.load(SeqCst), 3);
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn wait_for_completion_is_ok_despite_supervised_and_optional_failures(sp: Spawner) {
    Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            sp.spawn(&scope, |_| async { Err::<(), _>("supervised") });
            sp.spawn_optional(&scope, |_| async { Err::<(), _>("optional") });
            scope.wait_for_completion().await?;
            assert_eq!(scope.errors().len(), 2);
            Res::Ok(())
        })
        .await
        .unwrap();
}

async fn wait_for_completion_is_ok_despite_optional_failure_under_cancel(sp: Spawner) {
    with_scope(|scope| async move {
        sp.spawn_optional(&scope, |_| async { Err::<(), _>("optional") });
        scope.wait_for_completion().await?;
        assert_eq!(scope.errors().len(), 1);
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn wait_for_completion_errs_when_the_scope_has_failed(sp: Spawner) {
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        let err = scope.wait_for_completion().await.unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)));
        assert_eq!(err.failures().len(), 1);
        Res::Ok(()) // the body's Ok does not rescue the scope
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

#[tokio::test(start_paused = true)]
async fn wait_for_completion_errs_when_the_scope_was_cancelled() {
    guard(async move {
        let err = with_scope(|scope| async move {
            scope.cancel();
            let err = scope.wait_for_completion().await.unwrap_err();
            assert!(matches!(err.reason(), Reason::Cancelled));
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn wait_for_completion_with_no_tasks_is_ok_at_once() {
    guard(async move {
        with_scope(|scope| async move {
            let mut wait = pin!(scope.wait_for_completion());
            assert!(matches!(
                poll_once(wait.as_mut()).await,
                Poll::Ready(Ok(()))
            ));
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

// === a Scope handle used after its scope ended ===

async fn ended_scope(sp: Spawner, fail: bool) -> Scope {
    let keep = Arc::new(std::sync::Mutex::new(None::<Scope>));
    let k = keep.clone();
    let result = with_scope(|scope| async move {
        *k.lock().unwrap() = Some(scope.clone());
        sp.spawn(&scope, |_| async { Res::Ok(()) });
        if fail {
            sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        }
        Res::Ok(())
    })
    .await;
    assert_eq!(result.is_err(), fail);
    let scope = keep.lock().unwrap().take().unwrap();
    scope
}

/// Every spawn (all kinds, plain and named) on `scope` is refused at once,
/// as after `cancel()`: its closure is never called, nothing panics.
async fn assert_refuses_spawns(sp: Spawner, scope: &Scope) {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let normal = sp.spawn(scope, move |_| {
        c.fetch_add(1, SeqCst);
        async { Res::Ok(1) }
    });
    let c = called.clone();
    let critical = sp.spawn_critical(scope, move |_| {
        c.fetch_add(1, SeqCst);
        async { Err::<(), _>("would fail the scope") }
    });
    let c = called.clone();
    let optional = sp.spawn_optional(scope, move |_| {
        c.fetch_add(1, SeqCst);
        async { Res::Ok(1) }
    });
    let named = sp.named(scope, "late").spawn_critical(counted(&called));
    assert!(normal.is_finished() && critical.is_finished() && optional.is_finished());
    assert!(named.is_finished());
    assert!(matches!(normal.await, Err(TaskError::Cancelled)));
    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
    assert_eq!(optional.await, None);
    assert!(matches!(named.await, Err(TaskError::Cancelled)));
    settle().await;
    assert_eq!(
        called.load(SeqCst),
        0,
        "a refused task's closure was called"
    );
}

async fn ended_scope_refuses_spawns_without_calling_the_closure(sp: Spawner) {
    let scope = ended_scope(sp, false).await;
    assert_refuses_spawns(sp, &scope).await;
    assert!(scope.errors().is_empty());
    // Nothing else panics either.
    scope.wait_for_completion().await.unwrap();
    scope.cancel();
}

async fn failed_scope_refuses_spawns_without_calling_the_closure(sp: Spawner) {
    let scope = ended_scope(sp, true).await;
    assert_refuses_spawns(sp, &scope).await;
    assert_eq!(
        scope.errors().len(),
        1,
        "a refused spawn counted as a failure"
    );
    assert!(scope.wait_for_completion().await.is_err());
}

async fn scope_that_ended_normally_is_not_cancelled(sp: Spawner) {
    let scope = ended_scope(sp, false).await;
    assert!(!scope.is_cancelled());
    assert!(!scope.signal().is_cancelled());
}

// === Scope::current() ===

#[tokio::test(start_paused = true)]
async fn current_is_none_outside_any_scope() {
    guard(async move {
        assert!(Scope::current().is_none());
        with_scope(|_| async { Res::Ok(()) }).await.unwrap();
        assert!(
            Scope::current().is_none(),
            "the scope leaked into its caller"
        );
    })
    .await;
}

async fn current_is_the_scope_in_its_body_and_its_tasks(sp: Spawner) {
    with_scope(|scope| async move {
        assert!(Scope::current().unwrap().same_scope(&scope));
        settle().await;
        assert!(Scope::current().unwrap().same_scope(&scope));
        let s = scope.clone();
        let in_task = sp.spawn(&scope, move |_| async move {
            let first = Scope::current().unwrap().same_scope(&s);
            tokio::task::yield_now().await;
            Res::Ok(first && Scope::current().unwrap().same_scope(&s))
        });
        assert!(in_task.await?);
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn current_is_visible_to_the_task_closure(sp: Spawner) {
    with_scope(|scope| async move {
        let s = scope.clone();
        let h = sp.spawn(&scope, move |_| {
            let in_closure = Scope::current().is_some_and(|c| c.same_scope(&s));
            async move { Res::Ok(in_closure) }
        });
        assert!(h.await?);
        Res::Ok(())
    })
    .await
    .unwrap();
}

// === policy(), signal() ===

#[tokio::test(start_paused = true)]
async fn policy_is_the_builders() {
    guard(async move {
        with_scope(|scope| async move {
            assert_eq!(scope.policy(), Policy::Cancel);
            Res::Ok(())
        })
        .await
        .unwrap();
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                assert_eq!(scope.policy(), Policy::Supervise);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

// === the first event that fails a scope decides its reason ===

async fn first_event_decides_reason_task_failure_then_body_err(sp: Spawner) {
    let err = with_scope(|scope| async move {
        let h = sp.spawn(&scope, |_| async { Err::<(), _>("task first") });
        let _ = h.await;
        Err::<(), _>("body second")
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
}

async fn first_event_decides_reason_body_err_then_task_failure(sp: Spawner) {
    let err = Scope::builder()
        .grace(Duration::from_secs(3600))
        .run(|scope| async move {
            sp.spawn(&scope, |token| async move {
                token.cancelled().await;
                Err::<(), _>("task second")
            });
            settle().await;
            Err::<(), _>("body first")
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::BodyFailed(_)), "{err}");
    assert_eq!(
        err.failures().len(),
        1,
        "the later failure is still collected"
    );
}

async fn first_event_decides_reason_cancel_then_failures(sp: Spawner) {
    let err = with_scope(|scope| async move {
        scope.cancel();
        sp.spawn_critical(&scope, |_| async { Err::<(), _>("refused anyway") });
        Err::<(), _>("body after cancel")
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
}

async fn first_event_decides_reason_critical_then_cancel(sp: Spawner) {
    let err = with_scope(|scope| async move {
        let h = sp.spawn_critical(&scope, |_| async { Err::<(), _>("critical first") });
        let _ = h.await;
        scope.cancel();
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err.reason(), Reason::CriticalTaskFailed(_)),
        "{err}"
    );
}

async fn scope_error_failures_match_errors(sp: Spawner) {
    let keep = Arc::new(std::sync::Mutex::new(None::<Scope>));
    let k = keep.clone();
    let err: ScopeError = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("one") }).await;
            let _ = sp
                .spawn_optional(&scope, |_| async { Err::<(), _>("two") })
                .await;
            let _ = sp
                .spawn_critical(&scope, |_| async { Err::<(), _>("three") })
                .await;
            Res::Ok(())
        })
        .await
        .unwrap_err();
    let scope = keep.lock().unwrap().take().unwrap();
    let ids = |fs: &[async_scope::TaskFailure]| fs.iter().map(|f| f.task()).collect::<Vec<_>>();
    assert_eq!(ids(err.failures()), ids(&scope.errors()));
    assert_eq!(err.failures().len(), 3);
}
