//! Task kinds under each policy: one named test per policy × task kind ×
//! outcome (SPEC.md, "Rules": the `spawn`, `spawn_critical` and
//! `spawn_optional` rows), plus the optional task's "still cancelled with the
//! scope" and the critical task's "cancelled at once". Each test runs once
//! per spawner (`rule::spawn`, `rule::spawn_local`: see `common::per_spawner!`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use async_scope::{Policy, Reason, Scope, TaskError, TaskFailure, TaskKind};
use tokio::sync::oneshot;
use TaskKind::{Critical, Normal, Optional};

mod common;

use common::{
    collecting, critical_failed, fails, is_failure, per_spawner, Failing, IdCell, Live, Res, Seen,
    Spawner, BOTH,
};

// === helpers ===

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Err,
    Panic,
}

/// What one case produced.
#[derive(Debug, PartialEq)]
struct Observed {
    /// What the task's handle yielded.
    handle: String,
    /// `"ok"`, or the scope's `Reason` variant.
    scope: &'static str,
    /// The kinds and messages listed by `errors()` and `failures()`.
    errors: Vec<(TaskKind, String)>,
    /// How many times the scope's error handler ran.
    handled: usize,
    /// Whether a running sibling was cancelled.
    sibling_cancelled: bool,
}

fn task(
    outcome: Outcome,
) -> impl FnOnce(
    async_scope::CancellationToken,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res<u32>> + Send>>
       + Send
       + 'static {
    move |_| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            match outcome {
                Outcome::Ok => Ok(7),
                Outcome::Err => Err("boom".into()),
                Outcome::Panic => panic!("boom"),
            }
        })
    }
}

fn describe(result: Result<u32, TaskError>) -> String {
    match result {
        Ok(v) => format!("ok {v}"),
        Err(TaskError::Failed(e)) => format!("failed {e}"),
        Err(TaskError::Panicked(m)) => format!("panicked {m}"),
        Err(TaskError::Cancelled) => "cancelled".into(),
        Err(other) => format!("{other:?}"),
    }
}

fn reason_name(reason: &Reason) -> &'static str {
    match reason {
        Reason::TaskFailed(_) => "task failed",
        Reason::CriticalTaskFailed(_) => "critical task failed",
        Reason::BodyFailed(_) => "body failed",
        Reason::Cancelled => "cancelled",
        Reason::TimedOut => "timed out",
        _ => "unknown",
    }
}

/// The kind and outcome of each failure in `failures`, in order.
fn listed(failures: &[TaskFailure]) -> Vec<(TaskKind, String)> {
    failures
        .iter()
        .map(|f| (f.kind(), describe(Err(f.error().clone()))))
        .collect()
}

/// Runs one task of `kind` with `outcome` beside a sibling that waits until
/// the task has ended, in a scope with `policy` and an error handler.
async fn case(sp: Spawner, policy: Policy, kind: TaskKind, outcome: Outcome) -> Observed {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    let result = Scope::builder()
        .policy(policy)
        .on_error(move |_| {
            h.fetch_add(1, SeqCst);
        })
        .run(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            let (tx, rx) = oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, move |_| async move {
                rx.await.ok();
                Res::Ok(0)
            });
            let handle = match kind {
                TaskKind::Normal => describe(sp.spawn(&scope, task(outcome)).await),
                TaskKind::Critical => describe(sp.spawn_critical(&scope, task(outcome)).await),
                TaskKind::Optional => match sp.spawn_optional(&scope, task(outcome)).await {
                    Some(v) => format!("some {v}"),
                    None => "none".into(),
                },
            };
            let _ = tx.send(());
            let sibling_cancelled = matches!(sibling.await, Err(TaskError::Cancelled));
            Res::Ok((handle, sibling_cancelled))
        })
        .await;
    let scope = keep.lock().unwrap().take().unwrap();
    let errors = listed(&scope.errors());
    let (scope_outcome, handle, sibling_cancelled) = match result {
        Ok((handle, sibling_cancelled)) => ("ok", handle, sibling_cancelled),
        Err(e) => {
            assert_eq!(
                listed(e.failures()),
                errors,
                "failures() and errors() disagree"
            );
            // The body still ran to its end; its values are lost with the Ok.
            (reason_name(e.reason()), String::from("?"), true)
        }
    };
    Observed {
        handle,
        scope: scope_outcome,
        errors,
        handled: handled.load(SeqCst),
        sibling_cancelled,
    }
}

/// Like [`case`], for outcomes that fail the scope: the body's view is lost
/// with the error, so it is reported through the probe values instead.
async fn failing_case(
    sp: Spawner,
    policy: Policy,
    kind: TaskKind,
    outcome: Outcome,
) -> (Observed, String) {
    let seen = Arc::new(Mutex::new(String::new()));
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let s = seen.clone();
    let sibling_cancelled = Arc::new(Mutex::new(false));
    let sc = sibling_cancelled.clone();
    let err = Scope::builder()
        .policy(policy)
        .on_error(move |_| {
            h.fetch_add(1, SeqCst);
        })
        .run(|scope| async move {
            let (_tx, rx) = oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, move |_| async move {
                rx.await.ok();
                Res::Ok(0)
            });
            let handle = match kind {
                TaskKind::Normal => describe(sp.spawn(&scope, task(outcome)).await),
                TaskKind::Critical => describe(sp.spawn_critical(&scope, task(outcome)).await),
                _ => unreachable!(),
            };
            *s.lock().unwrap() = handle;
            // The sibling never gets its go-ahead: only cancellation ends it.
            *sc.lock().unwrap() = matches!(sibling.await, Err(TaskError::Cancelled));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    let errors = listed(err.failures());
    let failure = match err.reason() {
        Reason::TaskFailed(f) | Reason::CriticalTaskFailed(f) => describe(Err(f.error().clone())),
        other => format!("{other:?}"),
    };
    let observed = Observed {
        handle: seen.lock().unwrap().clone(),
        scope: reason_name(err.reason()),
        errors,
        handled: handled.load(SeqCst),
        sibling_cancelled: *sibling_cancelled.lock().unwrap(),
    };
    (observed, failure)
}

/// What one case of the matrix must produce.
enum Expected {
    /// The scope ends `Ok`: run through [`case`].
    Ends(Observed),
    /// The scope fails: run through [`failing_case`], whose `Reason` names
    /// the failure `failure`.
    Fails { observed: Observed, failure: String },
}

fn succeeded(handle: &str) -> Expected {
    Expected::Ends(Observed {
        handle: handle.into(),
        scope: "ok",
        errors: vec![],
        handled: 0,
        sibling_cancelled: false,
    })
}

/// A failure that does not fail the scope: recorded, handled once, siblings go on.
fn reported(handle: &str, kind: TaskKind, error: &str) -> Expected {
    Expected::Ends(Observed {
        handle: handle.into(),
        scope: "ok",
        errors: vec![(kind, error.into())],
        handled: 1,
        sibling_cancelled: false,
    })
}

/// A failure that fails the scope: recorded, no handler, siblings cancelled,
/// and the scope's `Reason` names it.
fn fatal(handle: &str, kind: TaskKind, error: &str, reason: &'static str) -> Expected {
    Expected::Fails {
        observed: Observed {
            handle: handle.into(),
            scope: reason,
            errors: vec![(kind, error.into())],
            handled: 0,
            sibling_cancelled: true,
        },
        failure: error.into(),
    }
}

/// Runs one case of the matrix and asserts what it must produce.
async fn check(sp: Spawner, policy: Policy, kind: TaskKind, outcome: Outcome, expected: Expected) {
    match expected {
        Expected::Ends(expected) => {
            assert_eq!(case(sp, policy, kind, outcome).await, expected);
        }
        Expected::Fails {
            observed: expected,
            failure,
        } => {
            let (observed, reason) = failing_case(sp, policy, kind, outcome).await;
            assert_eq!(observed, expected);
            assert_eq!(reason, failure);
        }
    }
}

/// The policy × kind × outcome matrix: one named rule per case (each run
/// once per spawner by `per_spawner!`), checked by [`check`].
macro_rules! matrix {
    ($($rule:ident: $policy:ident $kind:ident $outcome:ident => $expected:expr;)*) => {
        per_spawner!($($rule),*);
        $(
            async fn $rule(sp: Spawner) {
                check(sp, Policy::$policy, TaskKind::$kind, Outcome::$outcome, $expected).await;
            }
        )*
    };
}

// === the matrix: policy Cancel ===

matrix! {
    cancel_normal_ok_yields_value: Cancel Normal Ok => succeeded("ok 7");
    cancel_normal_err_fails_scope_and_cancels_siblings: Cancel Normal Err =>
        fatal("failed boom", Normal, "failed boom", "task failed");
    cancel_normal_panic_fails_scope_and_cancels_siblings: Cancel Normal Panic =>
        fatal("panicked boom", Normal, "panicked boom", "task failed");
    cancel_critical_ok_yields_value: Cancel Critical Ok => succeeded("ok 7");
    cancel_critical_err_fails_scope_as_critical: Cancel Critical Err =>
        fatal("failed boom", Critical, "failed boom", "critical task failed");
    cancel_critical_panic_fails_scope_as_critical: Cancel Critical Panic =>
        fatal("panicked boom", Critical, "panicked boom", "critical task failed");
    cancel_optional_ok_yields_some: Cancel Optional Ok => succeeded("some 7");
    cancel_optional_err_yields_none_and_is_reported: Cancel Optional Err =>
        reported("none", Optional, "failed boom");
    cancel_optional_panic_yields_none_and_is_reported: Cancel Optional Panic =>
        reported("none", Optional, "panicked boom");
}

// === the matrix: policy Supervise ===

matrix! {
    supervise_normal_ok_yields_value: Supervise Normal Ok => succeeded("ok 7");
    supervise_normal_err_is_reported_and_siblings_go_on: Supervise Normal Err =>
        reported("failed boom", Normal, "failed boom");
    supervise_normal_panic_is_reported_and_siblings_go_on: Supervise Normal Panic =>
        reported("panicked boom", Normal, "panicked boom");
    supervise_critical_ok_yields_value: Supervise Critical Ok => succeeded("ok 7");
    supervise_critical_err_fails_scope_as_critical: Supervise Critical Err =>
        fatal("failed boom", Critical, "failed boom", "critical task failed");
    supervise_critical_panic_fails_scope_as_critical: Supervise Critical Panic =>
        fatal("panicked boom", Critical, "panicked boom", "critical task failed");
    supervise_optional_ok_yields_some: Supervise Optional Ok => succeeded("some 7");
    supervise_optional_err_yields_none_and_is_reported: Supervise Optional Err =>
        reported("none", Optional, "failed boom");
    supervise_optional_panic_yields_none_and_is_reported: Supervise Optional Panic =>
        reported("none", Optional, "panicked boom");
}

// === kind-specific rules, once per spawner ===

per_spawner!(
    critical_failure_cancels_the_scope_at_once_under_either_policy,
    optional_failures_yield_none_are_recorded_and_handled_in_order,
    optional_task_is_still_cancelled_with_the_scope,
    optional_task_is_cancelled_when_a_normal_sibling_fails,
    many_optional_failures_never_cancel_or_fail_the_scope,
);

/// A Critical task that fails (`Err` or panic) cancels the scope at once
/// (observable as soon as its handle yields) and fails it with
/// `CriticalTaskFailed` naming that task, under either policy; every
/// sibling (Normal, Optional) is cancelled, and no handler sees the failure.
async fn critical_failure_cancels_the_scope_at_once_under_either_policy(sp: Spawner) {
    for policy in [Policy::Cancel, Policy::Supervise] {
        for how in BOTH {
            let live = Live::default();
            let seen = Seen::default();
            let critical = IdCell::default();
            let (l, k) = (live.clone(), critical.clone());
            let err = Scope::builder()
                .policy(policy)
                .on_error(collecting(&seen))
                .run(|scope| async move {
                    let sibling = sp.spawn(&scope, l.pending());
                    let optional = sp.spawn_optional(&scope, l.pending());
                    l.reaches(2).await;
                    let commit = sp.spawn_critical(&scope, fails(how, "commit failed"));
                    k.set(commit.id()).unwrap();
                    assert!(is_failure(&commit.await.unwrap_err(), how, "commit failed"));
                    // Observable as soon as the failure is: no later step needed.
                    assert!(scope.is_cancelled(), "not cancelled at once");
                    assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
                    assert_eq!(optional.await, None);
                    Res::Ok(())
                })
                .await
                .unwrap_err();
            let failure = critical_failed(&err);
            assert_eq!(Some(&failure.task()), critical.get(), "{policy:?} {how:?}");
            assert_eq!(failure.kind(), TaskKind::Critical);
            assert!(is_failure(failure.error(), how, "commit failed"));
            assert_eq!(err.failures().len(), 1);
            assert!(
                seen.lock().unwrap().is_empty(),
                "a scope failure went to the handler"
            );
            assert_eq!(live.count(), 0);
            assert!(live.all_tokens_cancelled());
        }
    }
}

/// Optional tasks that fail (`Err`, then a panic) yield `None`, are
/// recorded with kind Optional and go to the handler once each, in order;
/// they neither cancel nor fail the scope (under policy Cancel, where a
/// Normal failure would), and a sibling goes on with its token not cancelled.
async fn optional_failures_yield_none_are_recorded_and_handled_in_order(sp: Spawner) {
    let seen = Seen::default();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    let value = Scope::builder()
        .on_error(collecting(&seen))
        .run(|scope| async move {
            let (tx, rx) = oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, move |token| async move {
                rx.await.ok();
                Res::Ok((7, token.is_cancelled()))
            });
            // One failure after the other, so that their order is known.
            let failed = sp.spawn_optional(&scope, fails(Failing::Err, "statsd down"));
            i.lock().unwrap().push(failed.id());
            assert_eq!(failed.await, None);
            let panicked = sp.spawn_optional(&scope, fails(Failing::Panic, "statsd gone"));
            i.lock().unwrap().push(panicked.id());
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
        *ids.lock().unwrap(),
        "each failure goes to the handler once, in order"
    );
    assert!(seen.iter().all(|f| f.kind() == TaskKind::Optional));
    assert!(is_failure(seen[0].error(), Failing::Err, "statsd down"));
    assert!(is_failure(seen[1].error(), Failing::Panic, "statsd gone"));
}

async fn optional_task_is_still_cancelled_with_the_scope(sp: Spawner) {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let token_seen = Arc::new(Mutex::new(None));
    let t = token_seen.clone();
    let err = Scope::builder()
        .on_error(move |_| {
            h.fetch_add(1, SeqCst);
        })
        .run(|scope| async move {
            let optional = sp.spawn_optional(&scope, move |token| {
                *t.lock().unwrap() = Some(token);
                std::future::pending::<Res>()
            });
            tokio::task::yield_now().await;
            scope.cancel();
            assert_eq!(optional.await, None);
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert!(token_seen.lock().unwrap().as_ref().unwrap().is_cancelled());
    assert!(err.failures().is_empty(), "cancellation is not a failure");
    assert_eq!(handled.load(SeqCst), 0);
}

async fn optional_task_is_cancelled_when_a_normal_sibling_fails(sp: Spawner) {
    let err = Scope::builder()
        .run(|scope| async move {
            let optional = sp.spawn_optional(&scope, |_| std::future::pending::<Res>());
            sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
            assert_eq!(optional.await, None);
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert_eq!(err.failures().len(), 1);
}

async fn many_optional_failures_never_cancel_or_fail_the_scope(sp: Spawner) {
    Scope::builder()
        .run(|scope| async move {
            for i in 0..50 {
                sp.spawn_optional(&scope, move |_| async move {
                    Err::<(), _>(format!("metrics {i}"))
                });
            }
            scope.wait_for_completion().await?;
            assert!(!scope.is_cancelled());
            assert_eq!(scope.errors().len(), 50);
            assert!(scope
                .errors()
                .iter()
                .all(|f| f.kind() == TaskKind::Optional));
            Res::Ok(())
        })
        .await
        .unwrap();
}
