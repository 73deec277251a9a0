//! Local tasks: `Scope::spawn_local`, `spawn_local_critical`,
//! `spawn_local_optional` and `TaskBuilder::spawn_local*` (SPEC.md, "Rules":
//! every row that applies to a task, checked for `!Send` tasks on a
//! `tokio::task::LocalSet`). Each task holds an `Rc` or a `RefCell` across an
//! `.await`, so none of them could be given to `spawn`. Tests run on a
//! `current_thread` runtime with time paused, inside `LocalSet::run_until`;
//! "at once" and "after the grace period" are exact instants, and every other
//! ordering is forced by oneshots, `Notify` and counters.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, Policy, Reason, Scope, ScopeError, TaskError,
    TaskFailure, TaskKind,
};
use futures::FutureExt;
use tokio::sync::{oneshot, Notify};
use tokio::task::LocalSet;
use tokio::time::Instant;

mod common;
use common::{guard, settle, Flag, Live, Res};

// === helpers ===

/// The future of a `!Send` task.
type LocalFuture<T = ()> = Pin<Box<dyn Future<Output = Res<T>>>>;

/// The future of a `Send` task.
type SendFuture<T = ()> = Pin<Box<dyn Future<Output = Res<T>> + Send>>;

/// Runs a test's body inside a fresh `LocalSet`, under the hang guard.
async fn on_local_set<F: Future>(body: F) -> F::Output {
    let local = LocalSet::new();
    guard(local.run_until(body)).await
}

/// A `!Send` task that never ends by itself: it holds a probe and an `Rc`
/// across its `.await`.
fn local_pending(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    let not_send = Rc::new(RefCell::new(0_u32));
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            std::future::pending::<()>().await;
            *not_send.borrow_mut() += 1;
            Ok(())
        })
    }
}

/// A `!Send` task that ignores its token and sleeps an hour, holding a probe
/// and an `Rc`.
fn local_stubborn(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    let not_send = Rc::new(Cell::new(0_u32));
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            not_send.set(1);
            Ok(())
        })
    }
}

/// A `Send` task that never ends by itself, holding a probe.
fn send_pending(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> SendFuture + Send + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// How a failing task fails.
#[derive(Clone, Copy, Debug)]
enum Failing {
    Err,
    Panic,
}

/// A `!Send` task that fails as told after a yield, its message held in an
/// `Rc` across that `.await`.
fn local_fails(
    how: Failing,
    msg: &'static str,
) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
    let text = Rc::new(String::from(msg));
    move |_| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            match how {
                Failing::Err => Err(text.to_string().into()),
                Failing::Panic => panic!("{text}"),
            }
        })
    }
}

/// Whether `error` is what a [`local_fails`] task with `how` and `msg` ends with.
fn is_failure(error: &TaskError, how: Failing, msg: &str) -> bool {
    match (how, error) {
        (Failing::Err, TaskError::Failed(e)) => e.to_string() == msg,
        (Failing::Panic, TaskError::Panicked(m)) => m == msg,
        _ => false,
    }
}

/// A `!Send` task that counts the calls of its closure and ends at once.
fn counted(called: &Rc<Cell<usize>>) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
    let called = called.clone();
    move |_| {
        called.set(called.get() + 1);
        Box::pin(async { Ok(()) })
    }
}

fn task_failed(err: &ScopeError) -> &TaskFailure {
    match err.reason() {
        Reason::TaskFailed(failure) => failure,
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

fn critical_failed(err: &ScopeError) -> &TaskFailure {
    match err.reason() {
        Reason::CriticalTaskFailed(failure) => failure,
        other => panic!("expected CriticalTaskFailed, got {other:?}"),
    }
}

/// An error handler that keeps every failure it is given.
fn collecting_handler(
    seen: &Arc<Mutex<Vec<TaskFailure>>>,
) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
    let seen = seen.clone();
    move |failure| seen.lock().unwrap().push(failure.clone())
}

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs `f`, which must panic, and returns the panic's message.
fn panic_of(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it did not panic");
    panic_text(&*payload)
}

// === policy Cancel ===

/// Policy Cancel: a local task returning `Err` cancels its siblings and fails the scope with `TaskFailed`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancel_local_err_cancels_siblings_and_fails_with_task_failed() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let failing_id = Rc::new(Cell::new(None));
        let err = with_scope(|scope| {
            let (live, cancelled, failing_id) =
                (live.clone(), cancelled.clone(), failing_id.clone());
            async move {
                let sibling = scope.spawn_local(local_pending(&live, &cancelled));
                let critical = scope.spawn_local_critical(local_pending(&live, &cancelled));
                let optional = scope.spawn_local_optional(local_pending(&live, &cancelled));
                settle().await;
                assert_eq!(live.count(), 3);
                let failing = scope.spawn_local(local_fails(Failing::Err, "boom"));
                failing_id.set(Some(failing.id()));
                assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
                assert!(matches!(critical.await, Err(TaskError::Cancelled)));
                assert_eq!(optional.await, None);
                assert!(scope.is_cancelled());
                Res::Ok(())
            }
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert_eq!(Some(failure.task()), failing_id.get());
        assert_eq!(failure.kind(), TaskKind::Normal);
        assert!(is_failure(failure.error(), Failing::Err, "boom"));
        assert_eq!(
            err.failures().len(),
            1,
            "cancelled siblings counted as failures"
        );
        assert_eq!(live.count(), 0);
        assert!(cancelled.get(), "a sibling's token was not cancelled");
    })
    .await;
}

/// Policy Cancel: a local task that panics cancels its siblings and fails the scope with `TaskFailed` (`Panicked`).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancel_local_panic_cancels_siblings_and_fails_with_task_failed() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let err = with_scope(|scope| {
            let (live, cancelled) = (live.clone(), cancelled.clone());
            async move {
                let sibling = scope.spawn_local(local_pending(&live, &cancelled));
                settle().await;
                scope.spawn_local(local_fails(Failing::Panic, "local task exploded"));
                assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
                Res::Ok(())
            }
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert!(
            is_failure(failure.error(), Failing::Panic, "local task exploded"),
            "{:?}",
            failure.error()
        );
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

// === policy Supervise ===

/// Policy Supervise: failing local tasks are recorded in `errors()` and go to the handler; siblings go on and the scope succeeds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn supervise_local_failures_are_collected_and_handled_while_siblings_go_on() {
    on_local_set(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let value = Scope::builder()
            .policy(Policy::Supervise)
            .on_error(collecting_handler(&seen))
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let cache = Rc::new(RefCell::new(vec![1, 2]));
                let c = cache.clone();
                let sibling = scope.spawn_local(move |token| async move {
                    rx.await.ok();
                    c.borrow_mut().push(3);
                    Res::Ok(token.is_cancelled())
                });
                // One failure after the other, so that their order is known.
                let failed = scope.spawn_local(local_fails(Failing::Err, "flaky"));
                assert!(is_failure(
                    &failed.await.unwrap_err(),
                    Failing::Err,
                    "flaky"
                ));
                let panicked = scope.spawn_local(local_fails(Failing::Panic, "shaky"));
                assert!(is_failure(
                    &panicked.await.unwrap_err(),
                    Failing::Panic,
                    "shaky"
                ));
                assert!(
                    !scope.is_cancelled(),
                    "a supervised failure cancelled the scope"
                );
                tx.send(()).unwrap();
                assert!(!sibling.await?, "the sibling's token was cancelled");
                scope.wait_for_completion().await?;
                let errors = scope.errors();
                assert_eq!(errors.len(), 2);
                assert!(errors.iter().all(|f| f.kind() == TaskKind::Normal));
                assert!(is_failure(errors[0].error(), Failing::Err, "flaky"));
                assert!(is_failure(errors[1].error(), Failing::Panic, "shaky"));
                let len = cache.borrow().len();
                Res::Ok(len)
            })
            .await
            .unwrap();
        assert_eq!(value, 3);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "each failure goes to the handler once");
        assert!(is_failure(seen[0].error(), Failing::Err, "flaky"));
        assert!(is_failure(seen[1].error(), Failing::Panic, "shaky"));
    })
    .await;
}

/// Error handler: a supervised local failure in a nested scope without a handler goes to the nearest ancestor's handler, once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn supervised_local_failure_in_nested_scope_goes_to_the_ancestor_handler() {
    on_local_set(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        Scope::builder()
            .on_error(collecting_handler(&seen))
            .run(|scope| async move {
                let nested = scope.spawn_local(|_| async move {
                    Scope::builder()
                        .policy(Policy::Supervise)
                        .run(|inner| async move {
                            inner.spawn_local(local_fails(Failing::Err, "deep"));
                            inner.wait_for_completion().await?;
                            Res::Ok(inner.errors().len())
                        })
                        .await
                });
                assert_eq!(nested.await?, 1);
                assert!(
                    scope.errors().is_empty(),
                    "a nested failure belongs to the nested scope"
                );
                Res::Ok(())
            })
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(is_failure(seen[0].error(), Failing::Err, "deep"));
    })
    .await;
}

// === critical ===

/// `spawn_local_critical` failing (Err or panic) cancels the scope at once and fails it with `CriticalTaskFailed`, under either policy.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn critical_local_failure_fails_the_scope_under_either_policy() {
    on_local_set(async {
        for policy in [Policy::Cancel, Policy::Supervise] {
            for how in [Failing::Err, Failing::Panic] {
                let live = Live::default();
                let cancelled = Flag::default();
                let handled = Arc::new(Mutex::new(Vec::new()));
                let critical_id = Rc::new(Cell::new(None));
                let err = Scope::builder()
                    .policy(policy)
                    .on_error(collecting_handler(&handled))
                    .run(|scope| {
                        let (live, cancelled, critical_id) =
                            (live.clone(), cancelled.clone(), critical_id.clone());
                        async move {
                            let sibling = scope.spawn_local(local_pending(&live, &cancelled));
                            let optional =
                                scope.spawn_local_optional(local_pending(&live, &cancelled));
                            settle().await;
                            let critical =
                                scope.spawn_local_critical(local_fails(how, "commit failed"));
                            critical_id.set(Some(critical.id()));
                            assert!(is_failure(
                                &critical.await.unwrap_err(),
                                how,
                                "commit failed"
                            ));
                            assert!(scope.is_cancelled(), "not cancelled at once");
                            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
                            assert_eq!(optional.await, None);
                            Res::Ok(())
                        }
                    })
                    .await
                    .unwrap_err();
                let failure = critical_failed(&err);
                assert_eq!(
                    Some(failure.task()),
                    critical_id.get(),
                    "{policy:?} {how:?}"
                );
                assert_eq!(failure.kind(), TaskKind::Critical);
                assert!(is_failure(failure.error(), how, "commit failed"));
                assert_eq!(err.failures().len(), 1);
                assert!(
                    handled.lock().unwrap().is_empty(),
                    "a scope failure went to the handler"
                );
                assert_eq!(live.count(), 0);
                assert!(cancelled.get());
            }
        }
    })
    .await;
}

// === optional ===

/// `spawn_local_optional` failing yields `None`, is recorded with kind Optional, goes to the handler, and neither cancels nor fails the scope.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn optional_local_failure_yields_none_is_recorded_and_handled() {
    on_local_set(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ids = Rc::new(RefCell::new(Vec::new()));
        let i = ids.clone();
        // Policy Cancel, where a Normal failure would fail the scope.
        let value = Scope::builder()
            .on_error(collecting_handler(&seen))
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let sibling = scope.spawn_local(move |token| async move {
                    let held = Rc::new(7);
                    rx.await.ok();
                    Res::Ok((*held, token.is_cancelled()))
                });
                // One failure after the other, so that their order is known.
                let failed = scope.spawn_local_optional(local_fails(Failing::Err, "statsd down"));
                i.borrow_mut().push(failed.id());
                assert_eq!(failed.await, None);
                let panicked =
                    scope.spawn_local_optional(local_fails(Failing::Panic, "statsd gone"));
                i.borrow_mut().push(panicked.id());
                assert_eq!(panicked.await, None);
                assert!(
                    !scope.is_cancelled(),
                    "an optional failure cancelled the scope"
                );
                tx.send(()).unwrap();
                let (v, sibling_cancelled) = sibling.await?;
                assert!(!sibling_cancelled);
                let errors = scope.errors();
                assert_eq!(errors.len(), 2);
                assert!(errors.iter().all(|f| f.kind() == TaskKind::Optional));
                Res::Ok(v)
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        let seen = seen.lock().unwrap();
        let seen_ids: Vec<_> = seen.iter().map(TaskFailure::task).collect();
        assert_eq!(
            seen_ids,
            *ids.borrow(),
            "each failure goes to the handler once, in order"
        );
        assert!(seen.iter().all(|f| f.kind() == TaskKind::Optional));
        assert!(is_failure(seen[0].error(), Failing::Err, "statsd down"));
        assert!(is_failure(seen[1].error(), Failing::Panic, "statsd gone"));
    })
    .await;
}

// === the body ===

/// The body returning `Err` cancels every local task and fails the scope with `BodyFailed`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn body_err_cancels_local_tasks_and_fails_with_body_failed() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let err = with_scope(|scope| {
            let (live, cancelled) = (live.clone(), cancelled.clone());
            async move {
                scope.spawn_local(local_pending(&live, &cancelled));
                scope.spawn_local_critical(local_pending(&live, &cancelled));
                scope.spawn_local_optional(local_stubborn(&live, &cancelled));
                settle().await;
                assert_eq!(live.count(), 3);
                Err::<(), BoxError>("body gave up".into())
            }
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::BodyFailed(e) if e.to_string() == "body gave up"),
            "{err}"
        );
        assert!(err.failures().is_empty());
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

/// The body panicking cancels and joins its local tasks, then the panic continues.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn body_panic_joins_local_tasks_then_the_panic_continues() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let run = with_scope(|scope| {
            let (live, cancelled) = (live.clone(), cancelled.clone());
            async move {
                scope.spawn_local(local_pending(&live, &cancelled));
                scope.spawn_local_critical(local_stubborn(&live, &cancelled));
                settle().await;
                assert_eq!(live.count(), 2);
                if std::hint::black_box(true) {
                    panic!("body exploded");
                }
                Res::Ok(())
            }
        });
        let payload = AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .expect_err("the body's panic was swallowed");
        assert_eq!(panic_text(&*payload), "body exploded");
        // The LocalSet had no turn since the panic surfaced: the tasks are gone
        // only if the scope joined them first.
        assert_eq!(
            live.count(),
            0,
            "the panic went on before the local tasks were joined"
        );
        assert!(cancelled.get());
    })
    .await;
}

// === scope.cancel() ===

/// `scope.cancel()` cancels the token of every local task (normal, critical, optional) at once and fails the scope with `Cancelled`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn scope_cancel_signals_every_local_task_token() {
    on_local_set(async {
        let seen = Rc::new(Cell::new(0));
        let start = Instant::now();
        let watcher = |seen: &Rc<Cell<usize>>| {
            let seen = seen.clone();
            move |token: CancellationToken| async move {
                token.cancelled().await;
                seen.set(seen.get() + 1);
                Res::Ok(Instant::now() - start)
            }
        };
        let s = seen.clone();
        let err = Scope::builder()
            // The grace period lets the tasks end by themselves once signalled.
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                let normal = scope.spawn_local(watcher(&s));
                let critical = scope.spawn_local_critical(watcher(&s));
                let optional = scope.spawn_local_optional(watcher(&s));
                settle().await;
                assert_eq!(s.get(), 0);
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
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert_eq!(seen.get(), 3);
        assert!(err.failures().is_empty());
    })
    .await;
}

/// After `scope.cancel()`, every `spawn_local*` is refused: its closure is never called, its handle yields `Cancelled` (`None` for optional).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn scope_cancel_refuses_later_local_spawns_without_calling_the_closure() {
    on_local_set(async {
        let called = Rc::new(Cell::new(0));
        let c = called.clone();
        let err = with_scope(|scope| async move {
            scope.cancel();
            let normal = scope.spawn_local(counted(&c));
            let critical = scope.spawn_local_critical(counted(&c));
            let optional = scope.spawn_local_optional(counted(&c));
            let named = scope.task().name("late").spawn_local(counted(&c));
            let named_critical = scope.task().name("late").spawn_local_critical(counted(&c));
            let named_optional = scope.task().name("late").spawn_local_optional(counted(&c));
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
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(called.get(), 0, "a refused closure was called");
    })
    .await;
}

/// After `scope.cancel()`, a local task in its grace period that calls `spawn_local` is refused too.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn scope_cancel_refuses_spawn_local_from_a_local_task_in_its_grace_period() {
    on_local_set(async {
        let called = Rc::new(Cell::new(0));
        let c = called.clone();
        let _ = Scope::builder()
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                let spawner = scope.spawn_local(move |token| async move {
                    token.cancelled().await;
                    let late = Scope::current().unwrap().spawn_local(counted(&c));
                    Res::Ok(matches!(late.await, Err(TaskError::Cancelled)))
                });
                settle().await;
                scope.cancel();
                assert!(spawner.await?);
                Res::Ok(())
            })
            .await;
        assert_eq!(called.get(), 0);
    })
    .await;
}

/// A `Scope` handle kept after its scope ended refuses `spawn_local*` as after `cancel()`, and nothing panics, even outside a `LocalSet`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ended_scope_handle_refuses_local_spawns_without_panicking() {
    let called = Rc::new(Cell::new(0));
    let kept = on_local_set(with_scope(|scope| async move { Res::Ok(scope.clone()) }))
        .await
        .unwrap();
    // Inside a LocalSet.
    let c = called.clone();
    let k = kept.clone();
    on_local_set(async move {
        assert!(matches!(
            k.spawn_local(counted(&c)).await,
            Err(TaskError::Cancelled)
        ));
        assert_eq!(k.spawn_local_optional(counted(&c)).await, None);
    })
    .await;
    // Outside any LocalSet: refused before the LocalSet is looked for.
    let handle = kept.spawn_local(counted(&called));
    let critical = kept
        .task()
        .name("late")
        .spawn_local_critical(counted(&called));
    assert!(matches!(handle.await, Err(TaskError::Cancelled)));
    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
    assert_eq!(called.get(), 0);
    assert!(
        !kept.is_cancelled(),
        "a scope that ended normally is not cancelled"
    );
}

// === parent cancelled ===

/// A cancelled parent cancels a nested scope opened in its body (reason `Cancelled`) and that scope's local tasks.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn parent_cancel_cancels_local_tasks_of_a_nested_scope_in_the_body() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let err = with_scope(|scope| {
            let (live, cancelled) = (live.clone(), cancelled.clone());
            async move {
                let outer = scope.clone();
                let nested = with_scope(|inner| async move {
                    inner.spawn_local(local_pending(&live, &cancelled));
                    inner.spawn_local_optional(local_stubborn(&live, &cancelled));
                    settle().await;
                    assert_eq!(live.count(), 2);
                    outer.cancel();
                    assert!(inner.is_cancelled());
                    Res::Ok(())
                })
                .await;
                let nested = nested.unwrap_err();
                assert!(matches!(nested.reason(), Reason::Cancelled), "{nested}");
                Res::Ok(())
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

/// A cancelled parent cancels a nested scope opened in one of its local tasks (reason `Cancelled`) and that scope's local tasks.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn parent_cancel_cancels_local_tasks_of_a_nested_scope_in_a_local_task() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let nested_result = Rc::new(RefCell::new(None::<String>));
        let (l, c, n) = (live.clone(), cancelled.clone(), nested_result.clone());
        let watch = live.clone();
        let err = Scope::builder()
            // The grace period lets the task see its nested scope's result.
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                scope.spawn_local(move |_| async move {
                    let result = with_scope(|inner| async move {
                        inner.spawn_local(local_pending(&l, &c));
                        Res::Ok(())
                    })
                    .await;
                    *n.borrow_mut() = Some(match result {
                        Err(e) if matches!(e.reason(), Reason::Cancelled) => "cancelled".into(),
                        other => format!("{other:?}"),
                    });
                    Res::Ok(())
                });
                settle().await;
                assert_eq!(watch.count(), 1);
                scope.cancel();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(nested_result.borrow().as_deref(), Some("cancelled"));
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

// === handles ===

/// Awaiting a local task's handle yields `Ok` (with a `!Send` value), `Failed`, `Panicked` or `Cancelled`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn local_handle_awaited_yields_ok_failed_panicked_or_cancelled() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let ok = scope.spawn_local(|_| async {
                    tokio::task::yield_now().await;
                    Res::Ok(Rc::new(RefCell::new(String::from("not Send"))))
                });
                let failed = scope.spawn_local(local_fails(Failing::Err, "nope"));
                let panicked = scope.spawn_local(local_fails(Failing::Panic, "oops"));
                let optional = scope.spawn_local_optional(|_| async { Res::Ok(Rc::new(5)) });
                let forever = scope.spawn_local(local_pending(&l, &c));
                assert_eq!(*ok.await?.borrow(), "not Send");
                assert!(is_failure(&failed.await.unwrap_err(), Failing::Err, "nope"));
                assert!(is_failure(
                    &panicked.await.unwrap_err(),
                    Failing::Panic,
                    "oops"
                ));
                assert_eq!(optional.await.as_deref(), Some(&5));
                settle().await;
                scope.cancel();
                assert!(matches!(forever.await, Err(TaskError::Cancelled)));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(err.failures().len(), 2);
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

/// Dropping a local task's handle does not cancel the task: the scope still waits for it and gets its effect.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_a_local_handle_does_not_cancel_the_task() {
    on_local_set(async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        with_scope(|scope| async move {
            drop(scope.spawn_local(move |_| async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                d.set(true);
                Res::Ok(())
            }));
            Res::Ok(())
        })
        .await
        .unwrap();
        assert!(
            done.get(),
            "the scope ended before the task, or the task was cancelled"
        );
    })
    .await;
}

// === TaskHandle::cancel() ===

/// `TaskHandle::cancel` on a local task of any kind cancels only it: it yields `Cancelled`, is not a failure, and siblings and the scope go on.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn task_handle_cancel_cancels_only_that_local_task() {
    on_local_set(async {
        for policy in [Policy::Cancel, Policy::Supervise] {
            let live = Live::default();
            let cancelled = Flag::default();
            let handled = Arc::new(Mutex::new(Vec::new()));
            let (l, c) = (live.clone(), cancelled.clone());
            let value = Scope::builder()
                .policy(policy)
                .on_error(collecting_handler(&handled))
                .run(|scope| async move {
                    let (tx, rx) = oneshot::channel::<()>();
                    let sibling = scope.spawn_local(move |token| async move {
                        let held = Rc::new(1);
                        rx.await.ok();
                        Res::Ok((*held, token.is_cancelled()))
                    });
                    let normal = scope.spawn_local(local_pending(&l, &c));
                    let critical = scope.spawn_local_critical(local_pending(&l, &c));
                    let optional = scope.spawn_local_optional(local_pending(&l, &c));
                    settle().await;
                    assert_eq!(l.count(), 3);
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
            assert_eq!(value, 1);
            assert!(handled.lock().unwrap().is_empty());
        }
    })
    .await;
}

/// With a grace period, `TaskHandle::cancel` on a local task cancels its own token at once and aborts it after the grace period.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn task_handle_cancel_signals_the_local_token_then_aborts_after_grace() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let start = Instant::now();
        Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let saw_signal = Rc::new(Cell::new(None));
                let s = saw_signal.clone();
                let sibling_token = Rc::new(RefCell::new(None::<CancellationToken>));
                let t = sibling_token.clone();
                let sibling = scope.spawn_local(move |token| async move {
                    *t.borrow_mut() = Some(token);
                    Res::Ok(())
                });
                let victim = scope.spawn_local(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    token.cancelled().await;
                    s.set(Some(start.elapsed()));
                    // Ignores the signal from here on: only the abort ends it.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                settle().await;
                victim.cancel();
                assert!(matches!(victim.await, Err(TaskError::Cancelled)));
                assert_eq!(
                    saw_signal.get(),
                    Some(Duration::ZERO),
                    "not signalled at once"
                );
                assert_eq!(
                    start.elapsed(),
                    Duration::from_millis(100),
                    "not aborted after grace"
                );
                sibling.await?;
                let sibling_cancelled = sibling_token.borrow().as_ref().unwrap().is_cancelled();
                assert!(
                    !sibling_cancelled,
                    "cancelling one task signalled a sibling"
                );
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

// === cancellation mechanics ===

/// Without a grace period, a cancelled local task is aborted at once at its `.await`, its token cancelled, its destructors run.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelled_local_task_is_aborted_at_once_without_grace() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let err = with_scope(|scope| async move {
            let h = scope.spawn_local(local_stubborn(&l, &c));
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
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert!(
            cancelled.get(),
            "the token was not cancelled before the abort"
        );
    })
    .await;
}

/// Grace period: a cancelled local task's token is cancelled at once, it is aborted after the grace period, and one ending `Ok` within it yields `Ok`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grace_period_signals_local_tasks_first_then_aborts_them() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let signalled_after = Rc::new(Cell::new(None));
        let s = signalled_after.clone();
        let start = Instant::now();
        let err = Scope::builder()
            .grace(Duration::from_millis(100))
            .run(|scope| async move {
                let stubborn = scope.spawn_local(move |token| async move {
                    let _probe = l.probe(&token, &c);
                    token.cancelled().await;
                    s.set(Some(start.elapsed()));
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Res::Ok(())
                });
                let flushing = scope.spawn_local_optional(|token| async move {
                    let buffer = Rc::new(RefCell::new(vec!["a", "b"]));
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_millis(50)).await; // flush
                    let flushed = buffer.borrow().len();
                    Res::Ok(flushed)
                });
                settle().await;
                scope.cancel();
                assert_eq!(
                    flushing.await,
                    Some(2),
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
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(
            signalled_after.get(),
            Some(Duration::ZERO),
            "the token was not cancelled at once"
        );
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    })
    .await;
}

// === timeout ===

/// `timeout(d)`: when `d` elapses, the scope's local tasks are cancelled and the scope fails with `TimedOut`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeout_cancels_local_tasks_and_fails_with_timed_out() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let (l, c) = (live.clone(), cancelled.clone());
        let start = Instant::now();
        let err = Scope::builder()
            .timeout(Duration::from_secs(5))
            .run(|scope| async move {
                let quick = scope.spawn_local(|_| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Res::Ok(Rc::new("in time"))
                });
                scope.spawn_local(local_stubborn(&l, &c));
                scope.spawn_local_critical(local_pending(&l, &c));
                scope.spawn_local_optional(local_stubborn(&l, &c));
                assert_eq!(*quick.await?, "in time");
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TimedOut), "{err}");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(err.failures().is_empty());
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    })
    .await;
}

// === max_concurrency ===

/// What the local tasks of a `max_concurrency` test did (not `Send`).
#[derive(Clone, Default)]
struct LocalBoard {
    /// Task numbers in the order their closures were called.
    started: Rc<RefCell<Vec<usize>>>,
    running: Rc<Cell<usize>>,
    max_running: Rc<Cell<usize>>,
}

impl LocalBoard {
    fn started(&self) -> Vec<usize> {
        self.started.borrow().clone()
    }

    /// Task `n`: it records its start, then runs until the sender fires.
    fn task(
        &self,
        n: usize,
    ) -> (
        impl FnOnce(CancellationToken) -> LocalFuture<usize> + 'static,
        oneshot::Sender<()>,
    ) {
        let (tx, rx) = oneshot::channel::<()>();
        let board = self.clone();
        let task = move |_| {
            board.started.borrow_mut().push(n);
            board.running.set(board.running.get() + 1);
            board
                .max_running
                .set(board.max_running.get().max(board.running.get()));
            Box::pin(async move {
                rx.await.ok();
                board.running.set(board.running.get() - 1);
                Ok(n)
            }) as LocalFuture<usize>
        };
        (task, tx)
    }
}

/// `max_concurrency(n)` with local tasks of every spawn method: at most `n` run at once, the others start in spawn order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_concurrency_runs_local_tasks_at_most_n_at_once_in_spawn_order() {
    on_local_set(async {
        let board = LocalBoard::default();
        let b = board.clone();
        Scope::builder()
            .max_concurrency(2)
            .run(|scope| async move {
                let mut handles = Vec::new();
                let mut releases = Vec::new();
                for n in 0..6 {
                    let (task, tx) = b.task(n);
                    let handle = match n % 3 {
                        0 => scope.spawn_local(task),
                        1 => scope.spawn_local_critical(task),
                        _ => scope.task().name(format!("t{n}")).spawn_local(task),
                    };
                    handles.push(handle);
                    releases.push(tx);
                }
                settle().await;
                assert_eq!(b.started(), [0, 1]);
                for last in 2..6 {
                    releases.remove(0).send(()).unwrap();
                    settle().await;
                    assert_eq!(b.started(), (0..=last).collect::<Vec<_>>());
                }
                for tx in releases {
                    tx.send(()).unwrap();
                }
                for (n, h) in handles.into_iter().enumerate() {
                    assert_eq!(h.await?, n);
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(board.max_running.get(), 2);
    })
    .await;
}

/// `max_concurrency`: local tasks waiting for a slot when the scope is cancelled never run; their handles yield `Cancelled`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn local_tasks_waiting_for_a_slot_never_run_when_the_scope_is_cancelled() {
    on_local_set(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let called = Rc::new(Cell::new(0));
        let (l, c, k) = (live.clone(), cancelled.clone(), called.clone());
        let err = Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                let running = scope.spawn_local(local_pending(&l, &c));
                let waiting: Vec<_> = (0..3).map(|_| scope.spawn_local(counted(&k))).collect();
                let waiting_optional = scope.spawn_local_optional(counted(&k));
                settle().await;
                assert_eq!(l.count(), 1);
                assert_eq!(k.get(), 0, "a task ran beyond the limit");
                scope.cancel();
                assert!(matches!(running.await, Err(TaskError::Cancelled)));
                for h in waiting {
                    assert!(matches!(h.await, Err(TaskError::Cancelled)));
                }
                assert_eq!(waiting_optional.await, None);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled));
        assert_eq!(called.get(), 0, "a waiting task's closure was called");
        assert_eq!(live.count(), 0);
    })
    .await;
}

// === Send and local tasks in one scope ===

/// One scope runs Send and local tasks side by side: each returns its value, they can talk, and each sees the scope as `Scope::current()`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_tasks_run_side_by_side_in_one_scope() {
    on_local_set(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let total = with_scope(|scope| async move {
            let id = scope.id();
            let ll = l.clone();
            let local = scope.spawn_local(move |_| async move {
                tokio::task::yield_now().await;
                ll.borrow_mut().push("local");
                Res::Ok(Scope::current().map(|s| s.id()))
            });
            let send = scope.spawn(|_| async {
                tokio::task::yield_now().await;
                Res::Ok(Scope::current().map(|s| s.id()))
            });
            // A Send task hands a value to a local one.
            let (tx, rx) = oneshot::channel::<u32>();
            let consumer = scope.spawn_local(move |_| async move {
                let v = Rc::new(rx.await?);
                Res::Ok(*v + 1)
            });
            let producer = scope.spawn(move |_| async move {
                tokio::task::yield_now().await;
                tx.send(41).map_err(|_| "the consumer is gone")?;
                Res::Ok(())
            });
            assert_eq!(local.await?, Some(id));
            assert_eq!(send.await?, Some(id));
            producer.await?;
            let total = consumer.await?;
            l.borrow_mut().push("body");
            Res::Ok(total)
        })
        .await
        .unwrap();
        assert_eq!(total, 42);
        assert_eq!(*log.borrow(), ["local", "body"]);
    })
    .await;
}

/// Policy Cancel across spawn kinds: a failing local task cancels Send siblings, and a failing Send task cancels local siblings.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_siblings_cancel_each_other_on_failure() {
    on_local_set(async {
        for local_fails_first in [true, false] {
            let live = Live::default();
            let cancelled = Flag::default();
            let failing_id = Rc::new(Cell::new(None));
            let err = with_scope(|scope| {
                let (live, cancelled, failing_id) =
                    (live.clone(), cancelled.clone(), failing_id.clone());
                async move {
                    let local_sibling = scope.spawn_local(local_pending(&live, &cancelled));
                    let send_sibling = scope.spawn(send_pending(&live, &cancelled));
                    settle().await;
                    assert_eq!(live.count(), 2);
                    let failing = if local_fails_first {
                        scope.spawn_local(local_fails(Failing::Err, "local boom"))
                    } else {
                        scope.spawn(|_| async {
                            tokio::task::yield_now().await;
                            Err::<(), BoxError>("send boom".into())
                        })
                    };
                    failing_id.set(Some(failing.id()));
                    assert!(matches!(local_sibling.await, Err(TaskError::Cancelled)));
                    assert!(matches!(send_sibling.await, Err(TaskError::Cancelled)));
                    Res::Ok(())
                }
            })
            .await
            .unwrap_err();
            let failure = task_failed(&err);
            assert_eq!(Some(failure.task()), failing_id.get());
            let msg = if local_fails_first {
                "local boom"
            } else {
                "send boom"
            };
            assert!(is_failure(failure.error(), Failing::Err, msg), "{err}");
            assert_eq!(live.count(), 0);
            assert!(cancelled.get());
        }
    })
    .await;
}

/// Send and local tasks share one `max_concurrency` limit and wait their turn together, in spawn order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_tasks_share_the_max_concurrency_limit() {
    on_local_set(async {
        let started = Arc::new(Mutex::new(Vec::new()));
        let s = started.clone();
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let s1 = s.clone();
                let first = scope.spawn_local(move |_| {
                    s1.lock().unwrap().push("local 1");
                    let held = Rc::new(());
                    async move {
                        rx.await.ok();
                        drop(held);
                        Res::Ok(())
                    }
                });
                let s2 = s.clone();
                let second = scope.spawn(move |_| {
                    s2.lock().unwrap().push("send 2");
                    async { Res::Ok(()) }
                });
                let s3 = s.clone();
                let third = scope.spawn_local_optional(move |_| {
                    s3.lock().unwrap().push("local 3");
                    async { Res::Ok(()) }
                });
                settle().await;
                assert_eq!(*s.lock().unwrap(), ["local 1"]);
                tx.send(()).unwrap();
                first.await?;
                second.await?;
                assert_eq!(third.await, Some(()));
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(*started.lock().unwrap(), ["local 1", "send 2", "local 3"]);
    })
    .await;
}

// === dropping the scope's future ===

/// Drop guards and poll counts of the local tasks of a drop test (not `Send`).
#[derive(Clone, Default)]
struct Tracker {
    live: Live,
    polls: Rc<Cell<usize>>,
    /// One flag per probe: set if its token was cancelled when it was dropped.
    cancelled_at_drop: Rc<RefCell<Vec<Flag>>>,
}

impl Tracker {
    fn probe(&self, token: &CancellationToken) -> common::Probe {
        let flag = Flag::default();
        self.cancelled_at_drop.borrow_mut().push(flag.clone());
        self.live.probe(token, &flag)
    }

    fn poll(&self) {
        self.polls.set(self.polls.get() + 1);
    }

    /// A local task that is always runnable: it counts a poll and yields, forever.
    fn busy(&self) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
        let tracker = self.clone();
        move |token| {
            Box::pin(async move {
                let _probe = tracker.probe(&token);
                loop {
                    tracker.poll();
                    tokio::task::yield_now().await;
                }
            })
        }
    }

    /// A local task that counts a poll each time `notify` wakes it, forever.
    fn woken_by(
        &self,
        notify: &Rc<Notify>,
    ) -> impl FnOnce(CancellationToken) -> LocalFuture + 'static {
        let (tracker, notify) = (self.clone(), notify.clone());
        move |token| {
            Box::pin(async move {
                let _probe = tracker.probe(&token);
                loop {
                    tracker.poll();
                    notify.notified().await;
                }
            })
        }
    }
}

/// Dropping the scope's future aborts every local task at once, its own and a nested scope's: each drop guard runs, its token cancelled, and none is polled again.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_the_scope_future_aborts_local_tasks_and_none_is_polled_again() {
    on_local_set(async {
        let tracker = Tracker::default();
        let notify = Rc::new(Notify::new());
        let (t, n) = (tracker.clone(), notify.clone());
        let run = with_scope(|scope| async move {
            scope.spawn_local(t.busy());
            scope.spawn_local_critical(t.busy());
            scope.spawn_local_optional(t.busy());
            scope.spawn_local(t.woken_by(&n));
            let stubborn = t.clone();
            scope.spawn_local(move |token| async move {
                let _probe = stubborn.probe(&token);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Res::Ok(())
            });
            let nested = t.clone();
            scope.spawn_local(move |_| async move {
                with_scope(|inner| async move {
                    inner.spawn_local(nested.busy());
                    Res::Ok(())
                })
                .await?;
                Res::Ok(())
            });
            std::future::pending::<()>().await;
            Res::Ok(())
        });
        let mut run = Box::pin(run);
        tokio::select! {
            biased;
            _ = &mut run => unreachable!("the body never ends"),
            () = settle() => {}
        }
        assert_eq!(tracker.live.count(), 6, "not every task started");
        // Woken, so scheduled, but it must not be polled again.
        notify.notify_waiters();
        drop(run);
        let polls = tracker.polls.get();
        settle().await;
        assert_eq!(
            tracker.polls.get(),
            polls,
            "a local task was polled after the scope's future was dropped"
        );
        assert_eq!(
            tracker.live.count(),
            0,
            "a local task outlived the scope's future"
        );
        let flags = tracker.cancelled_at_drop.borrow();
        assert_eq!(flags.len(), 6);
        assert!(
            flags.iter().all(Flag::get),
            "a local task was dropped with its token not cancelled"
        );
    })
    .await;
}

// === outside a LocalSet ===

/// Outside a `LocalSet`, every `spawn_local*` panics with a message naming `LocalSet` and never calls the closure; the scope still works and ends normally.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawn_local_outside_a_local_set_panics_naming_local_set_and_leaks_nothing() {
    guard(async {
        // Plain scopes, and ones whose tasks take the other path (slots, grace).
        let builders: [fn() -> async_scope::ScopeBuilder; 3] = [
            Scope::builder,
            || Scope::builder().max_concurrency(1),
            || Scope::builder().grace(Duration::from_secs(1)),
        ];
        for builder in builders {
            let called = Rc::new(Cell::new(0));
            let c = called.clone();
            let messages = builder()
                .run(|scope| async move {
                    let messages = [
                        panic_of(|| drop(scope.spawn_local(counted(&c)))),
                        panic_of(|| drop(scope.spawn_local_critical(counted(&c)))),
                        panic_of(|| drop(scope.spawn_local_optional(counted(&c)))),
                        panic_of(|| drop(scope.task().name("a").spawn_local(counted(&c)))),
                        panic_of(|| drop(scope.task().name("b").spawn_local_critical(counted(&c)))),
                        panic_of(|| drop(scope.task().name("c").spawn_local_optional(counted(&c)))),
                    ];
                    // Nothing was left behind: no slot held, no task counted in.
                    assert_eq!(scope.spawn(|_| async { Res::Ok(1) }).await?, 1);
                    scope.wait_for_completion().await?;
                    assert!(scope.errors().is_empty());
                    assert!(!scope.is_cancelled());
                    Res::Ok(messages)
                })
                .await
                .unwrap();
            for message in messages {
                assert!(message.contains("LocalSet"), "{message}");
            }
            assert_eq!(called.get(), 0, "a closure was called outside a LocalSet");
        }
    })
    .await;
}

/// `spawn_local` from a Send task (which runs outside the `LocalSet`) panics naming `LocalSet`; that task fails, and the scope ends.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawn_local_from_a_send_task_panics_and_fails_that_task() {
    on_local_set(async {
        let err = with_scope(|scope| async move {
            scope.spawn(|_| async {
                let scope = Scope::current().expect("inside a task");
                drop(scope.spawn_local(|_| async { Res::Ok(()) }));
                Res::Ok(())
            });
            Res::Ok(())
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert!(
            matches!(failure.error(), TaskError::Panicked(m) if m.contains("LocalSet")),
            "{:?}",
            failure.error()
        );
    })
    .await;
}

// === names and spawn sites in failures ===

/// A local task's failure carries its name (`TaskFailure::name`) and spawn site, for every kind, in `errors()`, the handler and the scope's reason.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn local_task_failures_carry_the_task_name_and_spawn_site() {
    on_local_set(async {
        // Supervised: a named normal and a named optional failure, then a named critical one.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let lines = Rc::new(RefCell::new(Vec::new()));
        let l = lines.clone();
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .on_error(collecting_handler(&seen))
            .run(|scope| async move {
                let ui = scope
                    .task()
                    .name("ui")
                    .spawn_local(local_fails(Failing::Err, "redraw"));
                let _ = ui.await;
                let metrics = scope
                    .task()
                    .name("metrics")
                    .spawn_local_optional(local_fails(Failing::Panic, "statsd"));
                let _ = metrics.await;
                let (unnamed, line) = (scope.spawn_local(local_fails(Failing::Err, "x")), line!());
                l.borrow_mut().push(line);
                let _ = unnamed.await;
                let errors = scope.errors();
                let names: Vec<_> = errors.iter().map(TaskFailure::name).collect();
                assert_eq!(names, [Some("ui"), Some("metrics"), None]);
                assert!(errors[0].to_string().contains("\"ui\""), "{}", errors[0]);
                let commit = scope
                    .task()
                    .name("commit")
                    .spawn_local_critical(local_fails(Failing::Err, "disk full"));
                let _ = commit.await;
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let failure = critical_failed(&err);
        assert_eq!(failure.name(), Some("commit"));
        let handled: Vec<_> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.name().map(str::to_owned))
            .collect();
        assert_eq!(
            handled,
            [Some("ui".to_owned()), Some("metrics".to_owned()), None]
        );
        for failure in err.failures() {
            assert_eq!(failure.location().file(), file!(), "{failure}");
        }
        assert_eq!(err.failures()[2].location().line(), lines.borrow()[0]);

        // Policy Cancel: the name is in the reason.
        let err = with_scope(|scope| async move {
            scope
                .task()
                .name("render")
                .spawn_local(local_fails(Failing::Panic, "gpu lost"));
            Res::Ok(())
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert_eq!(failure.name(), Some("render"));
        assert!(err.to_string().contains("gpu lost"), "{err}");
    })
    .await;
}

// === runtimes ===

/// Local tasks work on a multi_thread runtime: a Send task failing on a worker cancels a local sibling on the `LocalSet`'s thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tasks_work_on_a_multi_thread_runtime() {
    // Real time here: the limit only turns a hang into a failure.
    let local = LocalSet::new();
    let body = local.run_until(async {
        let live = Live::default();
        let cancelled = Flag::default();
        let polled_on = Arc::new(AtomicUsize::new(0));
        let (l, c, p) = (live.clone(), cancelled.clone(), polled_on.clone());
        let err = with_scope(|scope| async move {
            let here = std::thread::current().id();
            let local = scope.spawn_local(move |_| async move {
                let same = Rc::new(std::thread::current().id() == here);
                tokio::task::yield_now().await;
                Res::Ok(*same)
            });
            assert!(local.await?, "a local task ran on another thread");
            let sibling = scope.spawn_local(local_pending(&l, &c));
            let (tx, rx) = oneshot::channel::<()>();
            scope.spawn(move |_| async move {
                rx.await.ok();
                p.fetch_add(1, SeqCst);
                Err::<(), BoxError>("worker failed".into())
            });
            while l.count() == 0 {
                tokio::task::yield_now().await;
            }
            tx.send(()).unwrap();
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(is_failure(
            task_failed(&err).error(),
            Failing::Err,
            "worker failed"
        ));
        assert_eq!(polled_on.load(SeqCst), 1);
        assert_eq!(live.count(), 0);
        assert!(cancelled.get());
    });
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("the test never ended: a scope or handle waited forever");
}
