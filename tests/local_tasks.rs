//! What only local tasks have (`Scope::spawn_local`, `spawn_local_critical`,
//! `spawn_local_optional` and `TaskBuilder`'s `spawn_local*`, on a
//! `tokio::task::LocalSet`): `!Send` futures and values, Send and local tasks
//! side by side in one scope (values, failures, one `max_concurrency`
//! limit), `spawn_local` where no `LocalSet` is, and a multi_thread runtime.
//!
//! The rules that hold for every task are not here: each area file runs
//! them once per spawner through [`common::per_spawner!`] (`rule::spawn`
//! with `spawn*`, `rule::spawn_local` with `spawn_local*` in a `LocalSet`).
//!
//! Time is paused on a current_thread runtime, except on the multi_thread
//! runtime, where a limit only turns a hang into a failure; "the task has
//! started" is [`Live::reaches`]; every other ordering is forced by
//! oneshots and counters.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, Policy, Scope, TaskError, TaskFailure, TaskKind,
};
use tokio::sync::oneshot;
use tokio::task::LocalSet;

mod common;
use common::{
    counted, critical_failed, fails, guard, guard_for, is_failure, panic_of, settle, task_failed,
    Failing, IdCell, Live, Res, Spawner, ON_PURPOSE,
};

/// Every local spawn method (plain and named, each kind) takes a `!Send`
/// future holding an `Rc` across `.await`, and hands back a `!Send` value;
/// a `!Send` task that fails is recorded as any other.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn local_tasks_hold_and_return_non_send_values() {
    common::quiet_panics(ON_PURPOSE);
    let err = Spawner::Local
        .run(
            Scope::builder()
                .policy(Policy::Supervise)
                .run(|scope| async move {
                    let shared = Rc::new(RefCell::new(Vec::new()));
                    let task = |n: u32| {
                        let shared = shared.clone();
                        move |_: CancellationToken| async move {
                            tokio::task::yield_now().await;
                            shared.borrow_mut().push(n);
                            Res::Ok(Rc::new(Cell::new(n)))
                        }
                    };
                    let handles = [
                        scope.spawn_local(task(0)),
                        scope.spawn_local_critical(task(1)),
                        scope.task().name("two").spawn_local(task(2)),
                        scope.task().name("three").spawn_local_critical(task(3)),
                    ];
                    let optional = scope.spawn_local_optional(task(4));
                    let named_optional = scope.task().name("five").spawn_local_optional(task(5));
                    for (n, handle) in (0..).zip(handles) {
                        assert_eq!(handle.await?.get(), n);
                    }
                    assert_eq!(optional.await.map(|v| v.get()), Some(4));
                    assert_eq!(named_optional.await.map(|v| v.get()), Some(5));
                    assert_eq!(shared.borrow().len(), 6);

                    let message = Rc::new(String::from("not Send"));
                    let failing = scope.spawn_local(move |_| async move {
                        tokio::task::yield_now().await;
                        Err::<(), BoxError>(message.to_string().into())
                    });
                    assert!(is_failure(
                        &failing.await.unwrap_err(),
                        Failing::Err,
                        "not Send"
                    ));
                    let panicking = scope.spawn_local_optional(|_| async move {
                        let message = Rc::new(format!("{ON_PURPOSE}not Send"));
                        tokio::task::yield_now().await;
                        if std::hint::black_box(true) {
                            panic!("{message}");
                        }
                        Res::Ok(())
                    });
                    assert_eq!(panicking.await, None);
                    scope.spawn_local_critical(|_| async {
                        let reason = Rc::new("critical, not Send");
                        tokio::task::yield_now().await;
                        Err::<(), BoxError>(reason.to_string().into())
                    });
                    Res::Ok(())
                }),
        )
        .await
        .unwrap_err();
    let failure = critical_failed(&err);
    assert!(
        is_failure(failure.error(), Failing::Err, "critical, not Send"),
        "{err}"
    );
    let kinds: Vec<_> = err.failures().iter().map(TaskFailure::kind).collect();
    assert_eq!(
        kinds,
        [TaskKind::Normal, TaskKind::Optional, TaskKind::Critical]
    );
    assert!(is_failure(
        err.failures()[1].error(),
        Failing::Panic,
        "not Send"
    ));
}

/// A `Scope` handle kept after its scope ended refuses `spawn_local*` even
/// outside any `LocalSet`: it is refused before the `LocalSet` is looked
/// for, and nothing panics.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_ended_scope_handle_refuses_spawn_local_outside_a_local_set() {
    let called = Arc::new(AtomicUsize::new(0));
    let kept = Spawner::Local
        .run(with_scope(|scope| async move { Res::Ok(scope.clone()) }))
        .await
        .unwrap();
    let normal = kept.spawn_local(counted(&called));
    let critical = kept.spawn_local_critical(counted(&called));
    let optional = kept.spawn_local_optional(counted(&called));
    let named = kept
        .task()
        .name("late")
        .spawn_local_critical(counted(&called));
    assert!(matches!(normal.await, Err(TaskError::Cancelled)));
    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
    assert_eq!(optional.await, None);
    assert!(matches!(named.await, Err(TaskError::Cancelled)));
    assert_eq!(called.load(SeqCst), 0);
}

/// One scope runs Send and local tasks side by side: each returns its value,
/// they can talk, and each sees the scope as `Scope::current()`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_tasks_run_side_by_side_in_one_scope() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let total = Spawner::Local
        .run(with_scope(|scope| async move {
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
        }))
        .await
        .unwrap();
    assert_eq!(total, 42);
    assert_eq!(*log.borrow(), ["local", "body"]);
}

/// Policy Cancel across spawners: a failing local task cancels a Send
/// sibling, and a failing Send task cancels a local sibling.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_siblings_cancel_each_other_on_failure() {
    for failing in [Spawner::Local, Spawner::Send] {
        let live = Live::default();
        let failing_id = IdCell::default();
        let (l, f) = (live.clone(), failing_id.clone());
        let err = Spawner::Local
            .run(with_scope(|scope| async move {
                let local_sibling = scope.spawn_local(l.pending());
                let send_sibling = scope.spawn(l.pending());
                l.reaches(2).await;
                f.set(failing.spawn(&scope, fails(Failing::Err, "boom")).id())
                    .unwrap();
                assert!(matches!(local_sibling.await, Err(TaskError::Cancelled)));
                assert!(matches!(send_sibling.await, Err(TaskError::Cancelled)));
                Res::Ok(())
            }))
            .await
            .unwrap_err();
        let failure = task_failed(&err);
        assert_eq!(Some(&failure.task()), failing_id.get(), "{failing:?}");
        assert!(is_failure(failure.error(), Failing::Err, "boom"), "{err}");
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled());
    }
}

/// Send and local tasks share one `max_concurrency` limit and wait their
/// turn together, in spawn order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn send_and_local_tasks_share_the_max_concurrency_limit() {
    let started = Arc::new(Mutex::new(Vec::new()));
    let s = started.clone();
    Spawner::Local
        .run(Scope::builder().max_concurrency(1).run(|scope| async move {
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
        }))
        .await
        .unwrap();
    assert_eq!(*started.lock().unwrap(), ["local 1", "send 2", "local 3"]);
}

/// Outside a `LocalSet`, every `spawn_local*` panics with a message naming
/// `LocalSet` and never calls the closure; the scope is left as it was
/// (no slot held, no task counted in) and ends normally.
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
            let called = Arc::new(AtomicUsize::new(0));
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
            assert_eq!(
                called.load(SeqCst),
                0,
                "a closure was called outside a LocalSet"
            );
        }
    })
    .await;
}

/// `spawn_local` from a Send task (which runs outside the `LocalSet`) panics
/// naming `LocalSet`; that task fails, and the scope with it (policy Cancel).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawn_local_from_a_send_task_panics_and_fails_that_task() {
    let err = Spawner::Local
        .run(with_scope(|scope| async move {
            scope.spawn(|_| async {
                let scope = Scope::current().expect("inside a task");
                drop(scope.spawn_local(|_| async { Res::Ok(()) }));
                Res::Ok(())
            });
            Res::Ok(())
        }))
        .await
        .unwrap_err();
    let failure = task_failed(&err);
    assert!(
        matches!(failure.error(), TaskError::Panicked(m) if m.contains("LocalSet")),
        "{:?}",
        failure.error()
    );
}

/// Local tasks work on a multi_thread runtime: they run on the `LocalSet`'s
/// thread, and a Send task failing on a worker cancels a local sibling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tasks_work_on_a_multi_thread_runtime() {
    let local = LocalSet::new();
    let body = local.run_until(async {
        let live = Live::default();
        let l = live.clone();
        let err = with_scope(|scope| async move {
            let here = std::thread::current().id();
            let local = scope.spawn_local(move |_| async move {
                let same = Rc::new(std::thread::current().id() == here);
                tokio::task::yield_now().await;
                Res::Ok(*same)
            });
            assert!(local.await?, "a local task ran on another thread");
            let sibling = scope.spawn_local(l.pending());
            let (tx, rx) = oneshot::channel::<()>();
            scope.spawn(move |_| async move {
                rx.await.ok();
                Err::<(), BoxError>("worker failed".into())
            });
            l.reaches(1).await;
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
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled());
    });
    // Real time here: the limit only turns a hang into a failure.
    guard_for(Duration::from_secs(60), body).await;
}
