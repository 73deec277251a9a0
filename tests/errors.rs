//! Failures and error types (SPEC.md, "Rules": "`errors()`"; the paragraph
//! "`errors()` and `ScopeError::failures()` list every failure ... each
//! once"; "Core API": `TaskFailure`'s accessors and `ScopeError`'s Display;
//! "Details": the Send/Sync/'static/Unpin bounds). Display texts are
//! lowercase with no trailing period (issue 2). Each test that spawns runs
//! once per spawner (`rule::spawn`, `rule::spawn_local`: see
//! `common::per_spawner!`).

use std::cell::Cell;
use std::error::Error;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, OptionalHandle, Policy, Reason, Scope, ScopeError,
    TaskError, TaskFailure, TaskHandle, TaskId, TaskKind,
};

mod common;

use common::{
    collecting, critical_failed, fails, is_failure, per_spawner, task_failed, Failing, Res, Seen,
    Spawner,
};

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

// === the rules that concern tasks, once per spawner ===

per_spawner!(
    errors_lists_every_kind_in_the_order_the_failures_happened,
    errors_order_follows_failure_time_not_spawn_order,
    errors_is_a_snapshot,
    cancellation_is_not_a_failure,
    each_failure_is_listed_once,
    failures_lists_failures_after_the_one_that_failed_the_scope,
    failure_location_is_where_the_task_was_spawned,
    failure_names_its_task_and_kind,
    failures_carry_the_task_name_and_spawn_site,
    failed_error_keeps_the_original_error_type,
    task_ids_are_distinct_and_displayed_as_numbers,
    task_failure_display_names_the_task_kind_place_and_error,
    scope_error_display_names_the_reason_the_scope_and_the_first_failure,
    scope_error_is_a_std_error_with_its_cause,
);

// === errors(): every failure, all kinds, in order, each once ===

async fn errors_lists_every_kind_in_the_order_the_failures_happened(sp: Spawner) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    let errors = failures_of(|scope| async move {
        let a = sp.spawn(&scope, |_| async { Err::<(), _>("normal") });
        i.lock().unwrap().push(a.id());
        let _ = a.await;
        let b = sp.spawn_optional(&scope, |_| async {
            if std::hint::black_box(true) {
                panic!("optional");
            }
            Res::Ok(())
        });
        i.lock().unwrap().push(b.id());
        let _ = b.await;
        let c = sp.spawn_critical(&scope, |_| async { Err::<(), _>("critical") });
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
}

async fn errors_order_follows_failure_time_not_spawn_order(sp: Spawner) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    let errors = failures_of(|scope| async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let first_spawned = sp.spawn(&scope, |_| async move {
            rx.await.ok();
            Err::<(), _>("fails second")
        });
        let second_spawned = sp.spawn(&scope, |_| async { Err::<(), _>("fails first") });
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
}

async fn errors_is_a_snapshot(sp: Spawner) {
    supervised()
        .run(|scope| async move {
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("one") }).await;
            let snapshot = scope.errors();
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("two") }).await;
            assert_eq!(snapshot.len(), 1);
            assert_eq!(scope.errors().len(), 2);
            Res::Ok(())
        })
        .await
        .unwrap();
}

async fn cancellation_is_not_a_failure(sp: Spawner) {
    let errors = failures_of(|scope| async move {
        let a = sp.spawn(&scope, |_| std::future::pending::<Res>());
        let b = sp.spawn_optional(&scope, |_| std::future::pending::<Res>());
        tokio::task::yield_now().await;
        a.cancel();
        let _ = a.await;
        scope.cancel();
        let _ = b.await;
        Res::Ok(())
    })
    .await;
    assert!(errors.is_empty(), "{errors:?}");
}

async fn each_failure_is_listed_once(sp: Spawner) {
    let (errors, failures) = {
        let keep = Arc::new(Mutex::new(None::<Scope>));
        let k = keep.clone();
        let err = with_scope(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            for i in 0..30 {
                sp.spawn_optional(&scope, move |_| async move { Err::<(), _>(format!("{i}")) });
            }
            scope.wait_for_completion().await?;
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("fatal") }).await;
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
}

async fn failures_lists_failures_after_the_one_that_failed_the_scope(sp: Spawner) {
    let err = Scope::builder()
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            sp.spawn(&scope, |token| async move {
                token.cancelled().await;
                Err::<(), _>("second")
            });
            sp.spawn_optional(&scope, |token| async move {
                token.cancelled().await;
                Err::<(), _>("third")
            });
            tokio::task::yield_now().await;
            sp.spawn(&scope, |_| async { Err::<(), _>("first") });
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
}

// === TaskFailure ===

async fn failure_location_is_where_the_task_was_spawned(sp: Spawner) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let errors = failures_of(|scope| async move {
        // The critical failure cancels the scope: it comes last.
        let a = line!() + 1;
        let _ = sp.spawn(&scope, |_| async { Err::<(), _>("a") }).await;
        let c = line!() + 1;
        let h = sp.spawn_optional(&scope, |_| async { Err::<(), _>("c") });
        let _ = h.await;
        let b = line!() + 1;
        let h = sp.spawn_critical(&scope, |_| async { Err::<(), _>("b") });
        let _ = h.await;
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
}

async fn failure_names_its_task_and_kind(sp: Spawner) {
    let ids = Arc::new(Mutex::new(None));
    let i = ids.clone();
    let errors = failures_of(|scope| async move {
        let h = sp.spawn_optional(&scope, |_| async { Err::<(), _>("gone") });
        *i.lock().unwrap() = Some(h.id());
        h.await;
        Res::Ok(())
    })
    .await;
    assert_eq!(Some(errors[0].task()), *ids.lock().unwrap());
    assert_eq!(errors[0].kind(), TaskKind::Optional);
    assert!(matches!(errors[0].error(), TaskError::Failed(_)));
}

/// A failure carries its task's name (`TaskFailure::name`) and spawn site,
/// for every kind, in `errors()`, in the handler and in the scope's reason.
async fn failures_carry_the_task_name_and_spawn_site(sp: Spawner) {
    // Supervised: a named normal and a named optional failure, an unnamed
    // one, then a named critical one.
    let seen = Seen::default();
    let line = Arc::new(OnceLock::new());
    let l = line.clone();
    let err = supervised()
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

async fn failed_error_keeps_the_original_error_type(sp: Spawner) {
    #[derive(Debug)]
    struct Quota(u32);
    impl std::fmt::Display for Quota {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "quota exceeded by {}", self.0)
        }
    }
    impl Error for Quota {}
    let errors = failures_of(|scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>(Quota(3)) });
        Res::Ok(())
    })
    .await;
    let TaskError::Failed(e) = errors[0].error() else {
        panic!("{:?}", errors[0].error());
    };
    assert_eq!(e.downcast_ref::<Quota>().map(|q| q.0), Some(3));
}

async fn task_ids_are_distinct_and_displayed_as_numbers(sp: Spawner) {
    with_scope(|scope| async move {
        let a = sp.spawn(&scope, |_| async { Res::Ok(()) });
        let b = sp.spawn_optional(&scope, |_| async { Res::Ok(()) });
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

async fn task_failure_display_names_the_task_kind_place_and_error(sp: Spawner) {
    let errors = failures_of(|scope| async move {
        let _ = sp
            .spawn(&scope, |_| async { Err::<(), _>("normal went wrong") })
            .await;
        let _ = sp
            .spawn_optional(&scope, |_| async { Err::<(), _>("optional went wrong") })
            .await;
        // The critical failure cancels the scope: it comes last.
        let _ = sp
            .spawn_critical(&scope, |_| async {
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
}

async fn scope_error_display_names_the_reason_the_scope_and_the_first_failure(sp: Spawner) {
    // Task failed.
    let err = Scope::builder()
        .name("checkout")
        .run(|scope| async move {
            sp.spawn(&scope, |_| async { Err::<(), _>("card declined") });
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
            sp.spawn_critical(&scope, |_| async { Err::<(), _>("write failed") });
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
            let _ = sp
                .spawn(&scope, |_| async { Err::<(), _>("page 404") })
                .await;
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
            sp.spawn(&scope, |_| std::future::pending::<Res>());
            Res::Ok(())
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_style(&text);
    assert!(text.contains("timed out"), "{text}");
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

async fn scope_error_is_a_std_error_with_its_cause(sp: Spawner) {
    let err = with_scope(|scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>("root cause") });
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
