//! `retain_failures(n)` and `failure_count()` (SPEC.md "Long-lived scopes
//! (servers) and blocking work"): bounded failures, every one still counted
//! and handled.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_scope::{Policy, Reason, Scope, TaskError, TaskState};

use crate::common::{self, guard, settle, Res};
use crate::support::*;

/// Spawns the failures `names` one after the other, each ended before the next.
async fn fail_in_order(scope: &Scope, names: impl IntoIterator<Item = String>) {
    for name in names {
        assert!(scope.spawn(fails(name)).await.is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn retain_failures_keeps_only_the_n_most_recent_in_order() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(3)
            .run(|scope| async move {
                fail_in_order(&scope, (0..10).map(|i| format!("bad request {i}"))).await;
                assert_eq!(
                    messages(&scope.errors()),
                    ["bad request 7", "bad request 8", "bad request 9"]
                );
                assert_eq!(scope.failure_count(), 10);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_trims_scope_error_failures_too() {
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(2)
            .run(|scope| async move {
                fail_in_order(&scope, (0..5).map(|i| format!("supervised {i}"))).await;
                scope.spawn_critical(fails("critical")).await.unwrap_err();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(messages(err.failures()), ["supervised 4", "critical"]);
        assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_zero_keeps_none() {
    guard(async {
        let handled = Seen::default();
        supervised(&handled)
            .retain_failures(0)
            .run(|scope| async move {
                fail_in_order(&scope, (0..3).map(|i| format!("lost {i}"))).await;
                assert!(scope.errors().is_empty());
                assert_eq!(scope.failure_count(), 3);
                assert!(scope
                    .snapshot()
                    .tasks()
                    .iter()
                    .all(|t| t.state() != TaskState::Failed));
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(handled.get(), ["lost 0", "lost 1", "lost 2"]);

        let err = Scope::builder()
            .retain_failures(0)
            .run(|scope| async move {
                scope.spawn(fails("decisive"));
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.failures().is_empty());
        assert_eq!(task_failed(&err).error().to_string(), "decisive");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_the_failure_that_decided_the_reason_stays_in_reason_when_trimmed() {
    guard(async {
        let err = Scope::builder()
            .retain_failures(1)
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                scope.spawn(fails_when_signalled("second"));
                scope.spawn(|token| async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Err::<(), _>("third")
                });
                settle().await;
                scope.spawn(fails("first"));
                scope.wait_for_completion().await.unwrap_err();
                assert_eq!(scope.failure_count(), 3);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(task_failed(&err).error().to_string(), "first");
        assert_eq!(messages(err.failures()), ["third"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_handlers_still_see_every_failure_exactly_once() {
    guard(async {
        let handled = Seen::default();
        supervised(&handled)
            .retain_failures(2)
            .run(|scope| async move {
                for i in 0..10 {
                    if i % 2 == 0 {
                        scope
                            .spawn(fails(format!("failure {i}")))
                            .await
                            .unwrap_err();
                    } else {
                        assert_eq!(
                            scope.spawn_optional(fails(format!("failure {i}"))).await,
                            None
                        );
                    }
                }
                assert_eq!(scope.errors().len(), 2);
                Res::Ok(())
            })
            .await
            .unwrap();
        let expected: Vec<String> = (0..10).map(|i| format!("failure {i}")).collect();
        assert_eq!(handled.get(), expected);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failure_count_counts_every_failure_of_every_kind_retained_or_not() {
    common::quiet_panics(ON_PURPOSE);
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(1)
            .run(|scope| async move {
                assert_eq!(scope.failure_count(), 0);
                scope.spawn(fails("normal")).await.unwrap_err();
                assert_eq!(scope.failure_count(), 1);
                assert_eq!(scope.spawn_optional(fails("optional")).await, None);
                assert_eq!(scope.failure_count(), 2);
                let panics = scope.spawn(|_| async {
                    if true {
                        panic!("{ON_PURPOSE}: counted");
                    }
                    Res::Ok(())
                });
                assert!(matches!(panics.await, Err(TaskError::Panicked(_))));
                assert_eq!(scope.failure_count(), 3);
                // Cancellation is not a failure.
                let cancelled = scope.spawn(|_| std::future::pending::<Res>());
                cancelled.cancel();
                cancelled.await.unwrap_err();
                assert_eq!(scope.failure_count(), 3);
                scope.spawn_critical(fails("critical")).await.unwrap_err();
                assert_eq!(scope.failure_count(), 4);
                assert_eq!(scope.errors().len(), 1);
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(messages(err.failures()), ["critical"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retain_failures_a_snapshot_lists_only_the_retained_failures() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(2)
            .run(|scope| async move {
                let mut ids = Vec::new();
                for i in 0..5 {
                    let handle = scope.spawn(fails(format!("failure {i}")));
                    ids.push(handle.id());
                    handle.await.unwrap_err();
                }
                let snapshot = scope.snapshot();
                let failed: Vec<_> = snapshot
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Failed)
                    .map(|t| (t.id(), t.error().map(ToString::to_string)))
                    .collect();
                assert_eq!(
                    failed,
                    [
                        (ids[3], Some("failure 3".to_owned())),
                        (ids[4], Some("failure 4".to_owned()))
                    ]
                );
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn by_default_every_failure_is_kept() {
    guard(async {
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                fail_in_order(&scope, (0..300).map(|i| format!("f{i}"))).await;
                let expected: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
                assert_eq!(messages(&scope.errors()), expected);
                assert_eq!(scope.failure_count(), 300);
                assert_eq!(failed_in(&scope.snapshot()), 300);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

/// A long-lived Supervise scope with `retain_failures(100)` runs 100,000
/// tasks in waves, one in ten failing: what it holds stays bounded.
#[tokio::test(start_paused = true)]
async fn retain_failures_keeps_a_long_lived_scopes_state_bounded() {
    const WAVES: usize = 100;
    const PER_WAVE: usize = 1_000;
    guard(async {
        let handled = Arc::new(AtomicUsize::new(0));
        let h = handled.clone();
        Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(100)
            .on_error(move |_| {
                h.fetch_add(1, SeqCst);
            })
            .run(|scope| async move {
                for wave in 0..WAVES {
                    for i in 0..PER_WAVE {
                        let n = wave * PER_WAVE + i;
                        scope.spawn(move |_| async move {
                            if n % 10 == 0 {
                                Err(format!("request {n} failed"))
                            } else {
                                Ok(n)
                            }
                        });
                    }
                    scope.wait_for_completion().await?;
                    let failures = scope.errors();
                    assert!(failures.len() <= 100, "{} failures kept", failures.len());
                    assert_eq!(scope.failure_count(), (wave + 1) * PER_WAVE / 10);
                    // The most recent ones: this wave's last hundred.
                    let last = (wave + 1) * PER_WAVE - 10;
                    assert_eq!(
                        failures.last().map(|f| f.error().to_string()),
                        Some(format!("request {last} failed"))
                    );
                    let snapshot = scope.snapshot();
                    let failed = failed_in(&snapshot);
                    assert!(failed <= 100, "the snapshot lists {failed} failed tasks");
                    assert!(
                        snapshot.tasks().len() <= 100,
                        "the snapshot lists {} tasks between waves",
                        snapshot.tasks().len()
                    );
                }
                assert_eq!(scope.errors().len(), 100);
                assert_eq!(scope.failure_count(), WAVES * PER_WAVE / 10);
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(handled.load(SeqCst), WAVES * PER_WAVE / 10);
    })
    .await;
}
