//! Local tasks: `Scope::spawn_local`, `spawn_local_critical`,
//! `spawn_local_optional` and `TaskBuilder`'s `spawn_local*`, on a
//! `tokio::task::LocalSet`.
//!
//! Every row of SPEC.md's "Rules" that concerns a task is written once below,
//! as an `async fn rule(sp: Spawner)`, and [`common::per_spawner!`] runs it
//! once per spawner: `rule::spawn` with `spawn*`, `rule::spawn_local` with
//! `spawn_local*` inside a `LocalSet`. The tests after them are what only
//! local tasks have: `!Send` futures and values, Send and local tasks in one
//! scope, `spawn_local` where no `LocalSet` is, and a multi_thread runtime.
//!
//! Time is paused on a current_thread runtime: "at once" and "after the
//! grace period" are exact instants of virtual time; "the task has started"
//! is [`Live::reaches`]; every other ordering is forced by oneshots, `Notify`
//! and counters.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, Policy, Scope, TaskError, TaskFailure, TaskKind,
};
use tokio::sync::{oneshot, Notify};
use tokio::task::LocalSet;

mod common;
use common::{
    collecting, counted, critical_failed, fails, guard, guard_for, is_failure, panic_of,
    per_spawner, settle, settle_times, task_failed, Failing, IdCell, Live, Res, Seen, Spawner,
    ON_PURPOSE,
};

// === the rules, once per spawner ===

per_spawner!(
    error_handler_a_nested_failure_goes_to_the_nearest_ancestor_handler,
    dropping_the_scope_future_aborts_every_task_and_none_is_polled_again,
    failures_carry_the_task_name_and_spawn_site,
);

/// Error handler and nesting: a supervised failure in a scope nested in a
/// task, with no handler of its own, goes once to the nearest ancestor's
/// handler, and belongs to the nested scope.
async fn error_handler_a_nested_failure_goes_to_the_nearest_ancestor_handler(sp: Spawner) {
    let seen = Seen::default();
    Scope::builder()
        .on_error(collecting(&seen))
        .run(|scope| async move {
            let nested = sp.spawn(&scope, move |_| async move {
                Scope::builder()
                    .policy(Policy::Supervise)
                    .run(|inner| async move {
                        sp.spawn(&inner, fails(Failing::Err, "deep"));
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
}

/// Dropping the scope's future aborts every task at once, its own (all
/// kinds, woken or asleep) and a nested scope's: each destructor runs with
/// its token cancelled, and none is polled again.
async fn dropping_the_scope_future_aborts_every_task_and_none_is_polled_again(sp: Spawner) {
    let live = Live::default();
    let notify = Arc::new(Notify::new());
    let (l, n) = (live.clone(), notify.clone());
    let mut run = Box::pin(with_scope(|scope| async move {
        sp.spawn(&scope, l.busy());
        sp.spawn_critical(&scope, l.busy());
        sp.spawn_optional(&scope, l.busy());
        sp.spawn(&scope, l.woken_by(&n));
        sp.spawn(&scope, l.stubborn());
        let nested = l.clone();
        sp.spawn(&scope, move |_| async move {
            with_scope(|inner| async move {
                sp.spawn(&inner, nested.busy());
                Res::Ok(())
            })
            .await?;
            Res::Ok(())
        });
        std::future::pending::<()>().await;
        Res::Ok(())
    }));
    tokio::select! {
        biased;
        _ = &mut run => unreachable!("the body never ends"),
        () = live.reaches(6) => {}
        // Busy tasks keep paused time from advancing: fail instead of spinning.
        () = settle_times(100) => panic!("not every task started"),
    }
    // Woken, so scheduled, but it must not be polled again.
    notify.notify_waiters();
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

/// A failure carries its task's name (`TaskFailure::name`) and spawn site,
/// for every kind, in `errors()`, in the handler and in the scope's reason.
async fn failures_carry_the_task_name_and_spawn_site(sp: Spawner) {
    // Supervised: a named normal and a named optional failure, an unnamed
    // one, then a named critical one.
    let seen = Seen::default();
    let line = Arc::new(OnceLock::new());
    let l = line.clone();
    let err = Scope::builder()
        .policy(Policy::Supervise)
        .on_error(collecting(&seen))
        .run(|scope| async move {
            let ui = sp.named(&scope, "ui").spawn(fails(Failing::Err, "redraw"));
            assert!(is_failure(&ui.await.unwrap_err(), Failing::Err, "redraw"));
            let metrics = sp.named(&scope, "metrics");
            let metrics = metrics.spawn_optional(fails(Failing::Panic, "statsd"));
            assert_eq!(metrics.await, None);
            let (unnamed, here) = (sp.spawn(&scope, fails(Failing::Err, "x")), line!());
            l.set(here).unwrap();
            assert!(unnamed.await.is_err());
            let errors = scope.errors();
            let names: Vec<_> = errors.iter().map(TaskFailure::name).collect();
            assert_eq!(names, [Some("ui"), Some("metrics"), None]);
            assert!(errors[0].to_string().contains("\"ui\""), "{}", errors[0]);
            let commit = sp.named(&scope, "commit");
            let commit = commit.spawn_critical(fails(Failing::Err, "disk full"));
            assert!(is_failure(
                &commit.await.unwrap_err(),
                Failing::Err,
                "disk full"
            ));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(critical_failed(&err).name(), Some("commit"));
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
    assert_eq!(Some(&err.failures()[2].location().line()), line.get());

    // Policy Cancel: the name is in the reason.
    let err = with_scope(|scope| async move {
        sp.named(&scope, "render")
            .spawn(fails(Failing::Panic, "gpu lost"));
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(task_failed(&err).name(), Some("render"));
    assert!(err.to_string().contains("gpu lost"), "{err}");
}

// === what only local tasks have ===

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
