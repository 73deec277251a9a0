//! Policy `Supervise` (SPEC.md, "Rules": "`spawn` task fails, policy
//! Supervise"). A Normal task's failure leaves its siblings running, is
//! recorded in `errors()`, goes to the nearest error handler, and does not
//! fail the scope. Each rule test runs once per spawner (`rule::spawn`,
//! `rule::spawn_local`: see `common::per_spawner!`).

use std::sync::{Arc, Mutex};

use async_scope::{BoxError, Policy, Reason, Scope, TaskError, TaskFailure, TaskKind};
use tokio::sync::oneshot;

mod common;

use common::{collecting, fails, is_failure, per_spawner, Failing, Res, Seen, Spawner};

// === helpers ===

fn supervised() -> async_scope::ScopeBuilder {
    Scope::builder().policy(Policy::Supervise)
}

// === the rule ===

per_spawner!(
    supervise_failures_are_recorded_and_handled_while_siblings_go_on,
    supervise_scope_does_not_fail_because_of_normal_failures,
    supervise_keeps_accepting_spawns_after_failures,
    supervise_critical_failure_still_fails_the_scope,
    supervise_body_err_still_fails_the_scope,
);

/// Failing Normal tasks (`Err`, then a panic) leave their sibling running
/// with its token not cancelled and the scope not cancelled; each handle
/// yields its failure; each failure is recorded in `errors()` (task, kind
/// Normal, error), in order, and goes to the handler once, in order; the
/// scope succeeds with the body's value.
async fn supervise_failures_are_recorded_and_handled_while_siblings_go_on(sp: Spawner) {
    let seen = Seen::default();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    let value = supervised()
        .on_error(collecting(&seen))
        .run(|scope| async move {
            let (tx, rx) = oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, move |token| async move {
                rx.await.ok();
                Res::Ok((41, token.is_cancelled()))
            });
            // One failure after the other, so that their order is known.
            let failed = sp.spawn(&scope, fails(Failing::Err, "flaky"));
            i.lock().unwrap().push(failed.id());
            assert!(is_failure(
                &failed.await.unwrap_err(),
                Failing::Err,
                "flaky"
            ));
            let panicked = sp.spawn(&scope, fails(Failing::Panic, "shaky"));
            i.lock().unwrap().push(panicked.id());
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
            let (v, sibling_cancelled) = sibling.await?;
            assert!(!sibling_cancelled, "the sibling's token was cancelled");
            scope.wait_for_completion().await?;
            let errors = scope.errors();
            let listed: Vec<_> = errors.iter().map(TaskFailure::task).collect();
            assert_eq!(listed, *i.lock().unwrap());
            assert!(errors.iter().all(|f| f.kind() == TaskKind::Normal));
            assert!(is_failure(errors[0].error(), Failing::Err, "flaky"));
            assert!(is_failure(errors[1].error(), Failing::Panic, "shaky"));
            Res::Ok(v + 1)
        })
        .await
        .unwrap();
    assert_eq!(value, 42);
    let seen = seen.lock().unwrap();
    let handled: Vec<_> = seen.iter().map(TaskFailure::task).collect();
    assert_eq!(
        handled,
        *ids.lock().unwrap(),
        "each failure goes to the handler once, in order"
    );
    assert!(is_failure(seen[0].error(), Failing::Err, "flaky"));
    assert!(is_failure(seen[1].error(), Failing::Panic, "shaky"));
}

async fn supervise_scope_does_not_fail_because_of_normal_failures(sp: Spawner) {
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    let value = supervised()
        .run(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            for i in 0..20 {
                sp.spawn(&scope, move |_| async move {
                    if i % 2 == 0 {
                        Err::<(), _>(format!("failure {i}"))
                    } else {
                        Ok(())
                    }
                });
            }
            Res::Ok("done")
        })
        .await
        .unwrap();
    assert_eq!(value, "done");
    let scope = keep.lock().unwrap().take().unwrap();
    assert_eq!(scope.errors().len(), 10);
    assert!(!scope.is_cancelled());
}

async fn supervise_keeps_accepting_spawns_after_failures(sp: Spawner) {
    supervised()
        .run(|scope| async move {
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("boom") }).await;
            let later = sp.spawn(&scope, |_| async { Res::Ok(5) });
            assert_eq!(later.await?, 5);
            Res::Ok(())
        })
        .await
        .unwrap();
}

async fn supervise_critical_failure_still_fails_the_scope(sp: Spawner) {
    let err = supervised()
        .run(|scope| async move {
            let (_tx, rx) = oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, move |_| async move {
                rx.await.ok();
                Res::Ok(())
            });
            sp.spawn_critical(&scope, |_| async { Err::<(), _>("commit failed") });
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason(), Reason::CriticalTaskFailed(f) if f.error().to_string() == "commit failed")
    );
}

async fn supervise_body_err_still_fails_the_scope(sp: Spawner) {
    let err = supervised()
        .run(|scope| async move {
            sp.spawn(&scope, |_| async { Err::<(), _>("supervised") });
            scope.wait_for_completion().await?;
            Err::<(), BoxError>("body".into())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::BodyFailed(e) if e.to_string() == "body"));
    assert_eq!(
        err.failures().len(),
        1,
        "the supervised failure is still listed"
    );
}
