//! Policy `Supervise` (SPEC.md, "Rules": "`spawn` task fails, policy
//! Supervise"). A Normal task's failure leaves its siblings running, is
//! recorded in `errors()`, goes to the nearest error handler, and does not
//! fail the scope.

use std::sync::{Arc, Mutex};

use async_scope::{BoxError, Policy, Reason, Scope, TaskError, TaskFailure, TaskKind};
use tokio::sync::oneshot;

mod common;

use common::{guard, Flag, Res};

// === helpers ===

/// Records every failure an error handler receives.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<TaskFailure>>>);

impl Seen {
    fn handler(&self) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |failure| seen.lock().unwrap().push(failure.clone())
    }

    fn tasks(&self) -> Vec<async_scope::TaskId> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(TaskFailure::task)
            .collect()
    }
}

fn supervised() -> async_scope::ScopeBuilder {
    Scope::builder().policy(Policy::Supervise)
}

// === the rule ===

#[tokio::test(start_paused = true)]
async fn supervise_normal_failure_does_not_cancel_siblings() {
    guard(async move {
        let sibling_saw_cancel = Flag::default();
        let s = sibling_saw_cancel.clone();
        let value = supervised()
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let sibling = scope.spawn(move |token| async move {
                    rx.await.ok();
                    if token.is_cancelled() {
                        s.set();
                    }
                    Res::Ok(41)
                });
                let failing = scope.spawn(|_| async { Err::<(), _>("boom") });
                assert!(matches!(failing.await, Err(TaskError::Failed(_))));
                assert!(!scope.is_cancelled());
                tx.send(()).unwrap();
                Res::Ok(sibling.await? + 1)
            })
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert!(!sibling_saw_cancel.get());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_normal_panic_does_not_cancel_siblings() {
    guard(async move {
        supervised()
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let sibling = scope.spawn(move |_| async move {
                    rx.await.ok();
                    Res::Ok("alive")
                });
                let failing = scope.spawn(|_| async {
                    if std::hint::black_box(true) {
                        panic!("task exploded");
                    }
                    Res::Ok(())
                });
                assert!(
                    matches!(failing.await, Err(TaskError::Panicked(m)) if m == "task exploded")
                );
                assert!(!scope.is_cancelled());
                tx.send(()).unwrap();
                assert_eq!(sibling.await?, "alive");
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_normal_failure_is_recorded_in_errors() {
    guard(async move {
        supervised()
            .run(|scope| async move {
                let failing = scope.spawn(|_| async { Err::<(), _>("boom") });
                let id = failing.id();
                let _ = failing.await;
                let errors = scope.errors();
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].task(), id);
                assert_eq!(errors[0].kind(), TaskKind::Normal);
                assert_eq!(errors[0].error().to_string(), "boom");
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_normal_failure_goes_to_the_handler() {
    guard(async move {
        let seen = Seen::default();
        let ids = Arc::new(Mutex::new(Vec::new()));
        let i = ids.clone();
        supervised()
            .on_error(seen.handler())
            .run(|scope| async move {
                let a = scope.spawn(|_| async { Err::<(), _>("a") });
                let b = scope.spawn(|_| async {
                    if std::hint::black_box(true) {
                        panic!("b");
                    }
                    Res::Ok(())
                });
                i.lock().unwrap().extend([a.id(), b.id()]);
                Res::Ok(())
            })
            .await
            .unwrap();
        let mut got = seen.tasks();
        got.sort();
        assert_eq!(
            got,
            *ids.lock().unwrap(),
            "each failure once to the handler"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_scope_does_not_fail_because_of_normal_failures() {
    guard(async move {
        let keep = Arc::new(Mutex::new(None::<Scope>));
        let k = keep.clone();
        let value = supervised()
            .run(|scope| async move {
                *k.lock().unwrap() = Some(scope.clone());
                for i in 0..20 {
                    scope.spawn(move |_| async move {
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
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_keeps_accepting_spawns_after_failures() {
    guard(async move {
        supervised()
            .run(|scope| async move {
                let _ = scope.spawn(|_| async { Err::<(), _>("boom") }).await;
                let later = scope.spawn(|_| async { Res::Ok(5) });
                assert_eq!(later.await?, 5);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_critical_failure_still_fails_the_scope() {
    guard(async move {
    let err = supervised()
        .run(|scope| async move {
            let (_tx, rx) = oneshot::channel::<()>();
            let sibling = scope.spawn(move |_| async move {
                rx.await.ok();
                Res::Ok(())
            });
            scope.spawn_critical(|_| async { Err::<(), _>("commit failed") });
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason(), Reason::CriticalTaskFailed(f) if f.error().to_string() == "commit failed")
    );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn supervise_body_err_still_fails_the_scope() {
    guard(async move {
        let err = supervised()
            .run(|scope| async move {
                scope.spawn(|_| async { Err::<(), _>("supervised") });
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
    })
    .await;
}
