//! Failures and error types (SPEC.md, "Rules": "`errors()`"; the paragraph
//! "`errors()` and `ScopeError::failures()` list every failure ... each
//! once"; "Core API": `TaskFailure`'s accessors and `ScopeError`'s Display;
//! "Details": the Send/Sync/'static/Unpin bounds). Display texts are
//! lowercase with no trailing period (issue 2).

use std::cell::Cell;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, OptionalHandle, Policy, Reason, Scope, ScopeError,
    TaskError, TaskFailure, TaskHandle, TaskId, TaskKind,
};

mod common;

use common::{guard, Res};

// === helpers ===

fn supervised() -> async_scope::ScopeBuilder {
    Scope::builder().policy(Policy::Supervise)
}

/// Display texts start lowercase and do not end with a period.
fn assert_style(text: &str) {
    let first = text.chars().next().expect("an empty message");
    assert!(!first.is_uppercase(), "starts uppercase: {text:?}");
    assert!(!text.ends_with('.'), "ends with a period: {text:?}");
}

/// Runs a supervised scope whose body is `body`, and returns the scope's
/// failures, read after it ended.
async fn failures_of<F, Fut>(body: F) -> Vec<TaskFailure>
where
    F: FnOnce(Scope) -> Fut,
    Fut: std::future::Future<Output = Res>,
{
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    let _ = supervised()
        .run(|scope| {
            *k.lock().unwrap() = Some(scope.clone());
            body(scope)
        })
        .await;
    let scope = keep.lock().unwrap().take().unwrap();
    scope.errors()
}

// === errors(): every failure, all kinds, in order, each once ===

#[tokio::test(start_paused = true)]
async fn errors_lists_every_kind_in_the_order_the_failures_happened() {
    guard(async move {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let i = ids.clone();
        let errors = failures_of(|scope| async move {
            let a = scope.spawn(|_| async { Err::<(), _>("normal") });
            i.lock().unwrap().push(a.id());
            let _ = a.await;
            let b = scope.spawn_optional(|_| async {
                if std::hint::black_box(true) {
                    panic!("optional");
                }
                Res::Ok(())
            });
            i.lock().unwrap().push(b.id());
            let _ = b.await;
            let c = scope.spawn_critical(|_| async { Err::<(), _>("critical") });
            i.lock().unwrap().push(c.id());
            let _ = c.await;
            Res::Ok(())
        })
        .await;
        let got: Vec<_> = errors
            .iter()
            .map(|f| (f.task(), f.kind(), f.error().to_string()))
            .collect();
        let ids = ids.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                (ids[0], TaskKind::Normal, "normal".to_owned()),
                (ids[1], TaskKind::Optional, "panicked: optional".to_owned()),
                (ids[2], TaskKind::Critical, "critical".to_owned()),
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn errors_order_follows_failure_time_not_spawn_order() {
    guard(async move {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let i = ids.clone();
        let errors = failures_of(|scope| async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let first_spawned = scope.spawn(|_| async move {
                rx.await.ok();
                Err::<(), _>("fails second")
            });
            let second_spawned = scope.spawn(|_| async { Err::<(), _>("fails first") });
            i.lock()
                .unwrap()
                .extend([second_spawned.id(), first_spawned.id()]);
            let _ = second_spawned.await;
            tx.send(()).unwrap();
            let _ = first_spawned.await;
            Res::Ok(())
        })
        .await;
        let got: Vec<_> = errors.iter().map(TaskFailure::task).collect();
        assert_eq!(got, *ids.lock().unwrap());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn errors_is_a_snapshot() {
    guard(async move {
        supervised()
            .run(|scope| async move {
                let _ = scope.spawn(|_| async { Err::<(), _>("one") }).await;
                let snapshot = scope.errors();
                let _ = scope.spawn(|_| async { Err::<(), _>("two") }).await;
                assert_eq!(snapshot.len(), 1);
                assert_eq!(scope.errors().len(), 2);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancellation_is_not_a_failure() {
    guard(async move {
        let errors = failures_of(|scope| async move {
            let a = scope.spawn(|_| std::future::pending::<Res>());
            let b = scope.spawn_optional(|_| std::future::pending::<Res>());
            tokio::task::yield_now().await;
            a.cancel();
            let _ = a.await;
            scope.cancel();
            let _ = b.await;
            Res::Ok(())
        })
        .await;
        assert!(errors.is_empty(), "{errors:?}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn each_failure_is_listed_once() {
    guard(async move {
        let (errors, failures) = {
            let keep = Arc::new(Mutex::new(None::<Scope>));
            let k = keep.clone();
            let err = with_scope(|scope| async move {
                *k.lock().unwrap() = Some(scope.clone());
                for i in 0..30 {
                    scope.spawn_optional(move |_| async move { Err::<(), _>(format!("{i}")) });
                }
                scope.wait_for_completion().await?;
                let _ = scope.spawn(|_| async { Err::<(), _>("fatal") }).await;
                Res::Ok(())
            })
            .await
            .unwrap_err();
            let scope = keep.lock().unwrap().take().unwrap();
            (scope.errors(), err.failures().to_vec())
        };
        let mut ids: Vec<_> = errors.iter().map(TaskFailure::task).collect();
        assert_eq!(ids.len(), 31);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 31, "a failure was listed twice");
        let f_ids: Vec<_> = failures.iter().map(TaskFailure::task).collect();
        let e_ids: Vec<_> = errors.iter().map(TaskFailure::task).collect();
        assert_eq!(f_ids, e_ids, "failures() and errors() disagree");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failures_lists_failures_after_the_one_that_failed_the_scope() {
    guard(async move {
        let err = Scope::builder()
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                scope.spawn(|token| async move {
                    token.cancelled().await;
                    Err::<(), _>("second")
                });
                scope.spawn_optional(|token| async move {
                    token.cancelled().await;
                    Err::<(), _>("third")
                });
                tokio::task::yield_now().await;
                scope.spawn(|_| async { Err::<(), _>("first") });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let mut texts: Vec<_> = err
            .failures()
            .iter()
            .map(|f| f.error().to_string())
            .collect();
        assert_eq!(texts.remove(0), "first");
        texts.sort();
        assert_eq!(texts, ["second", "third"]);
    })
    .await;
}

// === TaskFailure ===

#[tokio::test(start_paused = true)]
async fn failure_location_is_where_the_task_was_spawned() {
    guard(async move {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let errors = failures_of(|scope| async move {
            // The critical failure cancels the scope: it comes last.
            let a = line!() + 1;
            let _ = scope.spawn(|_| async { Err::<(), _>("a") }).await;
            let c = line!() + 1;
            let _ = scope.spawn_optional(|_| async { Err::<(), _>("c") }).await;
            let b = line!() + 1;
            let _ = scope.spawn_critical(|_| async { Err::<(), _>("b") }).await;
            l.lock().unwrap().extend([("a", a), ("b", b), ("c", c)]);
            Res::Ok(())
        })
        .await;
        assert_eq!(errors.len(), 3);
        for failure in &errors {
            let name = failure.error().to_string();
            let line = lines
                .lock()
                .unwrap()
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1;
            assert_eq!(failure.location().file(), file!(), "{name}");
            assert_eq!(failure.location().line(), line, "{name}");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failure_names_its_task_and_kind() {
    guard(async move {
        let ids = Arc::new(Mutex::new(None));
        let i = ids.clone();
        let errors = failures_of(|scope| async move {
            let h = scope.spawn_optional(|_| async { Err::<(), _>("gone") });
            *i.lock().unwrap() = Some(h.id());
            h.await;
            Res::Ok(())
        })
        .await;
        assert_eq!(Some(errors[0].task()), *ids.lock().unwrap());
        assert_eq!(errors[0].kind(), TaskKind::Optional);
        assert!(matches!(errors[0].error(), TaskError::Failed(_)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failed_error_keeps_the_original_error_type() {
    guard(async move {
        #[derive(Debug)]
        struct Quota(u32);
        impl std::fmt::Display for Quota {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "quota exceeded by {}", self.0)
            }
        }
        impl Error for Quota {}
        let errors = failures_of(|scope| async move {
            scope.spawn(|_| async { Err::<(), _>(Quota(3)) });
            Res::Ok(())
        })
        .await;
        let TaskError::Failed(e) = errors[0].error() else {
            panic!("{:?}", errors[0].error());
        };
        assert_eq!(e.downcast_ref::<Quota>().map(|q| q.0), Some(3));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn task_ids_are_distinct_and_displayed_as_numbers() {
    guard(async move {
        with_scope(|scope| async move {
            let a = scope.spawn(|_| async { Res::Ok(()) });
            let b = scope.spawn_optional(|_| async { Res::Ok(()) });
            assert_ne!(a.id(), b.id());
            assert!(a.id() < b.id(), "ids grow in spawn order");
            let shown = a.id().to_string();
            assert!(
                !shown.is_empty() && shown.chars().all(|c| c.is_ascii_digit()),
                "{shown}"
            );
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

// === Display ===

#[test]
fn task_error_display() {
    assert_eq!(TaskError::Cancelled.to_string(), "cancelled");
    assert_eq!(
        TaskError::Panicked("boom".into()).to_string(),
        "panicked: boom"
    );
    let failed = TaskError::Failed(Arc::new(std::io::Error::other("disk full")));
    assert_eq!(failed.to_string(), "disk full");
    for e in [
        TaskError::Cancelled,
        TaskError::Panicked("boom".into()),
        failed,
    ] {
        assert_style(&e.to_string());
    }
}

#[tokio::test(start_paused = true)]
async fn task_failure_display_names_the_task_kind_place_and_error() {
    guard(async move {
        let errors = failures_of(|scope| async move {
            let _ = scope
                .spawn(|_| async { Err::<(), _>("normal went wrong") })
                .await;
            let _ = scope
                .spawn_optional(|_| async { Err::<(), _>("optional went wrong") })
                .await;
            // The critical failure cancels the scope: it comes last.
            let _ = scope
                .spawn_critical(|_| async {
                    if std::hint::black_box(true) {
                        panic!("critical went wrong");
                    }
                    Res::Ok(())
                })
                .await;
            Res::Ok(())
        })
        .await;
        assert_eq!(errors.len(), 3);
        for failure in &errors {
            let text = failure.to_string();
            assert_style(&text);
            assert!(text.contains(&failure.task().to_string()), "{text}");
            assert!(text.contains(file!()), "{text}");
            let message = match failure.error() {
                TaskError::Panicked(m) => m.clone(),
                other => other.to_string(),
            };
            assert!(text.contains(&message), "{text}");
            match failure.kind() {
                TaskKind::Critical => assert!(text.contains("critical"), "{text}"),
                TaskKind::Optional => assert!(text.contains("optional"), "{text}"),
                TaskKind::Normal => {}
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn scope_error_display_names_the_reason_the_scope_and_the_first_failure() {
    guard(async move {
        // Task failed.
        let err = Scope::builder()
            .name("checkout")
            .run(|scope| async move {
                scope.spawn(|_| async { Err::<(), _>("card declined") });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_style(&text);
        assert!(
            text.contains("checkout") && text.contains("card declined"),
            "{text}"
        );

        // Critical task failed.
        let err = Scope::builder()
            .name("commit")
            .run(|scope| async move {
                scope.spawn_critical(|_| async { Err::<(), _>("write failed") });
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_style(&text);
        assert!(
            text.contains("commit") && text.contains("critical") && text.contains("write failed"),
            "{text}"
        );

        // Body failed.
        let err = Scope::builder()
            .name("import")
            .run(|_| async { Err::<(), _>("bad row") })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_style(&text);
        assert!(
            text.contains("import") && text.contains("bad row"),
            "{text}"
        );

        // Cancelled, after a supervised failure: the first failure is named too.
        let err = supervised()
            .name("crawl")
            .run(|scope| async move {
                let _ = scope.spawn(|_| async { Err::<(), _>("page 404") }).await;
                scope.cancel();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_style(&text);
        assert!(
            text.contains("crawl") && text.contains("cancel") && text.contains("page 404"),
            "{text}"
        );

        // Timed out, unnamed.
        let err = Scope::builder()
            .timeout(Duration::from_millis(5))
            .run(|scope| async move {
                scope.spawn(|_| std::future::pending::<Res>());
                Res::Ok(())
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_style(&text);
        assert!(text.contains("timed out"), "{text}");
    })
    .await;
}

#[test]
fn reason_display() {
    assert_eq!(Reason::Cancelled.to_string(), "cancelled");
    assert_eq!(Reason::TimedOut.to_string(), "timed out");
    let body = Reason::BodyFailed(Arc::new(std::io::Error::other("bad row")));
    assert!(body.to_string().contains("bad row"));
    for r in [Reason::Cancelled, Reason::TimedOut, body] {
        assert_style(&r.to_string());
    }
}

#[tokio::test(start_paused = true)]
async fn scope_error_is_a_std_error_with_its_cause() {
    guard(async move {
        let err = with_scope(|scope| async move {
            scope.spawn(|_| async { Err::<(), _>("root cause") });
            Res::Ok(())
        })
        .await
        .unwrap_err();
        let mut chain = Vec::new();
        let mut next: Option<&(dyn Error + 'static)> = Some(&err);
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        assert_eq!(
            chain.last().map(String::as_str),
            Some("root cause"),
            "{chain:?}"
        );
        // A ScopeError converts into the common boxed error type.
        let boxed: BoxError = err.into();
        assert!(boxed.downcast_ref::<ScopeError>().is_some());
    })
    .await;
}

// === static bounds ===

fn assert_send_sync_static<T: Send + Sync + 'static>() {}
fn assert_send_unpin<T: Send + Unpin>() {}
fn assert_clone<T: Clone>() {}

#[test]
fn error_types_are_send_sync_static() {
    assert_send_sync_static::<ScopeError>();
    assert_send_sync_static::<TaskError>();
    assert_send_sync_static::<TaskFailure>();
    assert_send_sync_static::<Reason>();
    assert_send_sync_static::<BoxError>();
    assert_clone::<TaskError>();
    assert_clone::<TaskFailure>();
    assert_clone::<Reason>();
}

#[test]
fn handles_are_send_and_unpin() {
    // `Cell` is Send but not Sync: the handles need only `T: Send`.
    assert_send_unpin::<TaskHandle<Cell<u8>>>();
    assert_send_unpin::<OptionalHandle<Cell<u8>>>();
    assert_send_unpin::<TaskHandle<()>>();
    assert_send_unpin::<OptionalHandle<String>>();
}

#[test]
fn scope_is_a_cheap_send_sync_static_handle() {
    assert_send_sync_static::<Scope>();
    assert_clone::<Scope>();
    assert_send_sync_static::<CancellationToken>();
    assert_send_sync_static::<TaskId>();
    assert_send_sync_static::<Policy>();
    assert_send_sync_static::<TaskKind>();
}

#[test]
fn policy_and_kind_defaults() {
    assert_eq!(Policy::default(), Policy::Cancel);
}
