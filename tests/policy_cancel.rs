//! Policy `Cancel` (SPEC.md, "Rules": "`spawn` task fails (returns `Err` or
//! panics), policy Cancel"; "Details": later failures after a scope failed).
//! The first failure of a Normal task cancels every sibling and nested scope,
//! and fails the scope with `Reason::TaskFailed` naming that first failure.
//! Each rule test runs once per spawner (`rule::spawn`, `rule::spawn_local`:
//! see `common::per_spawner!`); the race of two failures on a multi_thread
//! runtime is for Send tasks only.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, CancellationToken, Reason, Scope, ScopeError, TaskError, TaskKind};

mod common;
use common::{
    fails, guard_for, is_failure, per_spawner, settle, task_failed, Flag, IdCell, Live, Res,
    Spawner, BOTH,
};

// === helpers ===

/// A task that never ends by itself, holding a probe.
fn pending_task(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res> + Send>>
       + Send
       + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

fn reason_failure(err: &ScopeError) -> &async_scope::TaskFailure {
    match err.reason() {
        Reason::TaskFailed(failure) => failure,
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

// === the rule ===

per_spawner!(
    cancel_a_failing_task_cancels_every_sibling_and_fails_with_task_failed,
    cancel_failure_cancels_nested_scope_in_body,
    cancel_failure_cancels_nested_scope_in_sibling_task,
    cancel_reason_is_the_first_failure_and_later_ones_are_collected,
    cancel_failure_refuses_later_spawns,
    cancel_failure_is_seen_by_the_body_through_signal_and_is_cancelled,
    cancel_success_of_every_task_is_ok,
);

/// A Normal task that fails (`Err` or panic) cancels every sibling (all
/// kinds, each with its token cancelled and its destructors run) and fails
/// the scope with `TaskFailed`, the first failure; cancelled siblings are
/// not failures.
async fn cancel_a_failing_task_cancels_every_sibling_and_fails_with_task_failed(sp: Spawner) {
    for how in BOTH {
        let live = Live::default();
        let failing = IdCell::default();
        let (l, f) = (live.clone(), failing.clone());
        let err = with_scope(|scope| async move {
            let sibling = sp.spawn(&scope, l.pending());
            let critical = sp.spawn_critical(&scope, l.pending());
            let optional = sp.spawn_optional(&scope, l.pending());
            l.reaches(3).await;
            f.set(sp.spawn(&scope, fails(how, "boom")).id()).unwrap();
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            assert!(matches!(critical.await, Err(TaskError::Cancelled)));
            assert_eq!(optional.await, None);
            assert!(scope.is_cancelled());
            Res::Ok(())
        })
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert_eq!(Some(&failure.task()), failing.get());
        assert_eq!(failure.kind(), TaskKind::Normal);
        assert!(is_failure(failure.error(), how, "boom"), "{how:?}: {err}");
        assert_eq!(
            err.failures().len(),
            1,
            "cancelled siblings counted as failures"
        );
        assert_eq!(live.count(), 0);
        assert!(
            live.all_tokens_cancelled(),
            "a sibling's token was not cancelled"
        );
    }
}

async fn cancel_failure_cancels_nested_scope_in_body(sp: Spawner) {
    let live = Live::default();
    let cancelled = Flag::default();
    let (l, c) = (live.clone(), cancelled.clone());
    let err = with_scope(|scope| async move {
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        sp.spawn(&scope, |_| async move {
            go_rx.await.ok();
            Err::<(), _>("boom")
        });
        let nested = with_scope(|inner| async move {
            sp.spawn(&inner, pending_task(&l, &c));
            settle().await;
            go_tx.send(()).unwrap();
            Res::Ok(())
        })
        .await;
        let nested = nested.unwrap_err();
        assert!(matches!(nested.reason(), Reason::Cancelled), "{nested}");
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert_eq!(live.count(), 0);
    assert!(cancelled.get());
}

async fn cancel_failure_cancels_nested_scope_in_sibling_task(sp: Spawner) {
    let live = Live::default();
    let cancelled = Flag::default();
    let nested_result = Arc::new(Mutex::new(None::<String>));
    let (l, c, n) = (live.clone(), cancelled.clone(), nested_result.clone());
    let err = Scope::builder()
        // The grace period lets the sibling see its nested scope's result.
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            sp.spawn(&scope, move |_| async move {
                let result = with_scope(|inner| async move {
                    sp.spawn(&inner, pending_task(&l, &c));
                    Res::Ok(())
                })
                .await;
                *n.lock().unwrap() = Some(match result {
                    Err(e) if matches!(e.reason(), Reason::Cancelled) => "cancelled".into(),
                    other => format!("{other:?}"),
                });
                Res::Ok(())
            });
            settle().await;
            sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert_eq!(nested_result.lock().unwrap().as_deref(), Some("cancelled"));
    assert_eq!(live.count(), 0);
    assert!(cancelled.get());
}

async fn cancel_reason_is_the_first_failure_and_later_ones_are_collected(sp: Spawner) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    let err = Scope::builder()
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let late = sp.spawn(&scope, |token| async move {
                token.cancelled().await;
                Err::<(), _>("second")
            });
            settle().await;
            let first = sp.spawn(&scope, |_| async { Err::<(), _>("first") });
            i.lock().unwrap().extend([first.id(), late.id()]);
            Res::Ok(())
        })
        .await
        .unwrap_err();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(reason_failure(&err).task(), ids[0]);
    let failed: Vec<_> = err.failures().iter().map(|f| f.task()).collect();
    assert_eq!(failed, ids, "every failure, in order");
}

async fn cancel_failure_refuses_later_spawns(sp: Spawner) {
    let called = Flag::default();
    let c = called.clone();
    let err = with_scope(|scope| async move {
        let failed = sp.spawn(&scope, |_| async { Err::<(), _>("boom") }).await;
        assert!(matches!(failed, Err(TaskError::Failed(_))));
        assert!(scope.is_cancelled());
        let late = sp.spawn(&scope, move |_| {
            c.set();
            async { Res::Ok(()) }
        });
        assert!(matches!(late.await, Err(TaskError::Cancelled)));
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)), "{err}");
    assert!(!called.get());
}

async fn cancel_failure_is_seen_by_the_body_through_signal_and_is_cancelled(sp: Spawner) {
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        scope.signal().cancelled().await;
        assert!(scope.is_cancelled());
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

async fn cancel_success_of_every_task_is_ok(sp: Spawner) {
    let sum = with_scope(|scope| async move {
        let handles: Vec<_> = (0..10)
            .map(|i| sp.spawn(&scope, move |_| async move { Res::Ok(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Res::Ok(sum)
    })
    .await
    .unwrap();
    assert_eq!(sum, 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reason_is_the_first_listed_failure_when_failures_race() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        // Two tasks on the two workers fail at the same instant, many times over.
        for round in 0..1000 {
            let arrived = Arc::new(AtomicUsize::new(0));
            let err = with_scope(|scope| async move {
                for name in ["a", "b"] {
                    let arrived = arrived.clone();
                    scope.spawn(move |_| async move {
                        arrived.fetch_add(1, SeqCst);
                        // Line both failures up (bounded: both may share a worker).
                        for _ in 0..20_000 {
                            if arrived.load(SeqCst) == 2 {
                                break;
                            }
                            std::hint::spin_loop();
                        }
                        Err::<(), _>(name)
                    });
                }
                Res::Ok(())
            })
            .await
            .unwrap_err();
            assert_eq!(
                err.failures()[0].task(),
                reason_failure(&err).task(),
                "round {round}: the reason is not the first failure listed"
            );
        }
    })
    .await;
}
