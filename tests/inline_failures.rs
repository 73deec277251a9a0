//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow", row "rules") and
//! failures: policies and kinds (Normal under Cancel and Supervise, Critical,
//! Optional), panics, `TaskFailure::is_inline`, the order of `errors()` and
//! `ScopeError::failures()` (each failure once), error handlers (nearest,
//! nested takes over, a nested inline scope's handler), `wait_for_completion`,
//! the body's `Err` and the body's panic.
//!
//! Time is paused and every test runs on a current_thread runtime, so the
//! order of events is exact.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_scope::{
    with_scope_inline, CancellationToken, Policy, Reason, Scope, ScopeBuilder, TaskError,
    TaskFailure, TaskId, TaskKind,
};
use futures::FutureExt;
use tokio::time::sleep;

mod common;
use common::{
    collecting, critical_failed, fails, guard, is_failure, quiet_panics, task_failed, Failing,
    Live, Res, Seen, BOTH, ON_PURPOSE,
};

const POLICIES: [Policy; 2] = [Policy::Cancel, Policy::Supervise];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The ids of `failures`, in order.
fn ids(failures: &[TaskFailure]) -> Vec<TaskId> {
    failures.iter().map(TaskFailure::task).collect()
}

/// A task that sleeps `after`, then ends `Ok(value)`.
async fn ok_after<T: Send>(after: Duration, value: T) -> Res<T> {
    sleep(after).await;
    Ok(value)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn normal_failure_under_cancel_cancels_inline_and_spawned_siblings() {
    for how in BOTH {
        let live = &Live::default();
        let err = guard(with_scope_inline(|scope, inline| async move {
            let inline_sibling = inline.spawn(live.pending());
            let spawned_sibling = scope.spawn(live.pending());
            let failing = inline.spawn(fails(how, "normal"));
            assert!(matches!(inline_sibling.await, Err(TaskError::Cancelled)));
            assert!(matches!(spawned_sibling.await, Err(TaskError::Cancelled)));
            let error = failing.await.unwrap_err();
            assert!(is_failure(&error, how, "normal"), "{error:?}");
            assert!(scope.is_cancelled());
            Res::Ok(())
        }))
        .await
        .unwrap_err();
        let failure = task_failed(&err);
        assert!(is_failure(failure.error(), how, "normal"), "{how:?}");
        assert_eq!(failure.kind(), TaskKind::Normal);
        assert!(failure.is_inline());
        assert_eq!(ids(err.failures()), [failure.task()]);
        assert_eq!(live.count(), 0);
        assert!(live.all_tokens_cancelled());
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn normal_failure_under_supervise_is_recorded_and_handled_and_siblings_go_on() {
    for how in BOTH {
        let seen = Seen::default();
        let data = &[1u32, 2, 3];
        let out = guard(
            Scope::builder()
                .policy(Policy::Supervise)
                .on_error(collecting(&seen))
                .run_inline(|scope, inline| async move {
                    let sibling = inline.spawn(|_| ok_after(ms(50), data.iter().sum::<u32>()));
                    let spawned = scope.spawn(|_| ok_after(ms(50), 4u32));
                    let failing = inline.spawn(fails(how, "supervised"));
                    let error = failing.await.unwrap_err();
                    assert!(!scope.is_cancelled());
                    let errors = scope.errors();
                    assert_eq!(errors.len(), 1);
                    assert!(
                        errors[0].is_inline() && is_failure(errors[0].error(), how, "supervised")
                    );
                    assert!(is_failure(&error, how, "supervised"));
                    Res::Ok(sibling.await? + spawned.await?)
                }),
        )
        .await;
        assert_eq!(out.unwrap(), 10, "{how:?}");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "the handler sees it once");
        assert!(seen[0].is_inline() && seen[0].kind() == TaskKind::Normal);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn critical_failure_fails_the_scope_under_either_policy() {
    for (policy, how) in POLICIES.into_iter().zip(BOTH) {
        let seen = Seen::default();
        let live = &Live::default();
        let err = guard(
            Scope::builder()
                .policy(policy)
                .on_error(collecting(&seen))
                .run_inline(|scope, inline| async move {
                    let sibling = inline.spawn(live.pending());
                    scope.spawn(live.pending());
                    inline.spawn_critical(fails(how, "critical"));
                    assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
                    Res::Ok(())
                }),
        )
        .await
        .unwrap_err();
        let failure = critical_failed(&err);
        assert_eq!(failure.kind(), TaskKind::Critical);
        assert!(failure.is_inline() && is_failure(failure.error(), how, "critical"));
        assert_eq!(err.failures().len(), 1, "{policy:?}");
        assert!(
            seen.lock().unwrap().is_empty(),
            "a failure that fails the scope"
        );
        assert_eq!(live.count(), 0);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn optional_failure_yields_none_is_recorded_and_never_fails() {
    for (policy, how) in POLICIES.into_iter().zip(BOTH) {
        let seen = Seen::default();
        let out = guard(
            Scope::builder()
                .policy(policy)
                .on_error(collecting(&seen))
                .run_inline(|scope, inline| async move {
                    let sibling = inline.spawn(|_| ok_after(ms(20), 1));
                    let optional = inline.spawn_optional(fails(how, "optional"));
                    assert_eq!(optional.await, None);
                    let fine = inline.spawn_optional(|_| ok_after(ms(5), 2));
                    assert_eq!(fine.await, Some(2));
                    assert!(!scope.is_cancelled());
                    assert_eq!(scope.errors().len(), 1);
                    assert_eq!(scope.errors()[0].kind(), TaskKind::Optional);
                    Res::Ok(sibling.await?)
                }),
        )
        .await;
        assert_eq!(out.unwrap(), 1, "{policy:?}");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].is_inline() && is_failure(seen[0].error(), how, "optional"));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_spawned_task_failure_is_not_marked_inline() {
    let err = guard(with_scope_inline(|scope, _inline| async move {
        scope.spawn(fails(Failing::Err, "spawned"));
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(!task_failed(&err).is_inline());
}

/// Under Supervise, failures of inline and spawned tasks, at distinct times,
/// come in `errors()`, `failures()` and the handler in the order they happened, each once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failures_are_listed_in_order_once_each_under_supervise() {
    let seen = Seen::default();
    let (out, errors) = guard(async {
        let mut scope_out = None;
        let out = Scope::builder()
            .policy(Policy::Supervise)
            .on_error(collecting(&seen))
            .run_inline(|scope, inline| {
                scope_out = Some(scope.clone());
                async move {
                    let mut order = Vec::new();
                    for (i, at) in [40u64, 10, 30, 20, 50].into_iter().enumerate() {
                        let task = move |_| async move {
                            sleep(ms(at)).await;
                            Err::<(), _>(format!("at {at}"))
                        };
                        let id = match i % 3 {
                            0 => inline.spawn(task).id(),
                            1 => scope.spawn(task).id(),
                            _ => inline.spawn_optional(task).id(),
                        };
                        order.push((at, id));
                    }
                    order.sort();
                    scope.wait_for_completion().await?;
                    Res::Ok(order.into_iter().map(|(_, id)| id).collect::<Vec<_>>())
                }
            })
            .await;
        (out, scope_out.unwrap().errors())
    })
    .await;
    let order = out.unwrap();
    assert_eq!(ids(&errors), order);
    assert_eq!(ids(&seen.lock().unwrap()), order);
    let inline: Vec<_> = errors.iter().map(TaskFailure::is_inline).collect();
    assert_eq!(inline, [false, true, true, true, false]); // at 10, 20, 30, 40, 50
}

/// Under Cancel, the first failure decides the reason; later Normal failures
/// (of tasks that fail as they are cancelled) are only collected, in order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn later_failures_under_cancel_are_only_collected() {
    let seen = Seen::default();
    let err = guard(
        Scope::builder()
            .grace(ms(100))
            .on_error(collecting(&seen))
            .run_inline(|scope, inline| async move {
                for i in 0..3u64 {
                    let task = move |token: CancellationToken| async move {
                        token.cancelled().await;
                        sleep(ms(10 * (i + 1))).await;
                        Err::<(), _>(format!("later {i}"))
                    };
                    if i == 1 {
                        scope.spawn(task);
                    } else {
                        inline.spawn(task);
                    }
                }
                inline.spawn(|_| async {
                    sleep(ms(5)).await;
                    Err::<(), _>("first")
                });
                Res::Ok(())
            }),
    )
    .await
    .unwrap_err();
    let first = task_failed(&err);
    assert_eq!(first.error().to_string(), "first");
    let listed = ids(err.failures());
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0], first.task());
    let texts: Vec<_> = err.failures()[1..]
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(texts, ["later 0", "later 1", "later 2"]);
    assert!(seen.lock().unwrap().is_empty(), "no handler sees them");
}

/// A supervised scope whose error handler collects into `seen`, if given.
fn supervised(seen: Option<&Seen>) -> ScopeBuilder {
    let builder = Scope::builder().policy(Policy::Supervise);
    match seen {
        Some(seen) => builder.on_error(collecting(seen)),
        None => builder,
    }
}

/// Runs, in a nested supervised inline scope (with a handler collecting into
/// `nested_seen`, if given), an inline task that fails; the nested scope's errors.
async fn nested_inline_failure(nested_seen: Option<&Seen>) -> Vec<TaskFailure> {
    let text = &String::from("nested");
    supervised(nested_seen)
        .run_inline(|scope, inline| async move {
            let failed = inline.spawn(move |_| async move { Err::<(), _>(text.as_str()) });
            assert!(failed.await.is_err());
            Res::Ok(scope.errors())
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_nested_inline_scope_without_handler_uses_the_nearest_ancestor_handler() {
    let outer = Seen::default();
    let out = guard(
        supervised(Some(&outer)).run_inline(|scope, _inline| async move {
            let nested = nested_inline_failure(None).await;
            Res::Ok((nested, scope.errors()))
        }),
    )
    .await;
    let (nested, outer_errors) = out.unwrap();
    assert_eq!(ids(&nested), ids(&outer.lock().unwrap()));
    assert!(nested[0].is_inline());
    assert!(
        outer_errors.is_empty(),
        "a nested scope's failures are its own"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_nested_handler_takes_over_from_its_parent() {
    let (outer, inner) = (Seen::default(), Seen::default());
    let inner_ref = &inner;
    let nested = guard(
        supervised(Some(&outer)).run_inline(|_scope, _inline| async move {
            Res::Ok(nested_inline_failure(Some(inner_ref)).await)
        }),
    )
    .await
    .unwrap();
    assert_eq!(ids(&nested), ids(&inner.lock().unwrap()));
    assert!(outer.lock().unwrap().is_empty());
}

/// A nested inline scope opened inside an inline task of the outer one.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inline_failure_in_a_nested_inline_scope_goes_to_the_nested_handler() {
    let (outer, inner) = (Seen::default(), Seen::default());
    let inner_ref = &inner;
    let nested = guard(
        supervised(Some(&outer)).run_inline(|_scope, inline| async move {
            let task = inline.spawn(move |_| async move {
                Res::Ok(nested_inline_failure(Some(inner_ref)).await)
            });
            Res::Ok(task.await?)
        }),
    )
    .await
    .unwrap();
    assert_eq!(nested.len(), 1);
    assert_eq!(ids(&nested), ids(&inner.lock().unwrap()));
    assert!(outer.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn wait_for_completion_waits_for_inline_tasks() {
    // Supervised and optional failures: Ok once every task has ended.
    let ended = &std::sync::atomic::AtomicUsize::new(0);
    let end = |at| {
        move |_| async move {
            sleep(ms(at)).await;
            ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>("ended")
        }
    };
    let start = tokio::time::Instant::now();
    guard(supervised(None).run_inline(|scope, inline| async move {
        inline.spawn(end(30));
        inline.spawn_optional(end(10));
        inline.spawn(|_| ok_after(ms(20), ()));
        scope.wait_for_completion().await?;
        assert_eq!(ended.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(start.elapsed(), ms(30));
        Res::Ok(())
    }))
    .await
    .unwrap();

    // A Normal failure under Cancel: Err with the scope's reason.
    let live = &Live::default();
    guard(with_scope_inline(|scope, inline| async move {
        inline.spawn(live.pending());
        inline.spawn(|_| async {
            sleep(ms(10)).await;
            Err::<(), _>("fails")
        });
        let err = scope.wait_for_completion().await.unwrap_err();
        assert_eq!(task_failed(&err).error().to_string(), "fails");
        assert_eq!(live.count(), 0, "every task has ended by then");
        Res::Ok(())
    }))
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_body_err_cancels_inline_tasks() {
    let live = &Live::default();
    let err = guard(with_scope_inline(|_scope, inline| async move {
        inline.spawn(live.pending());
        inline.spawn_optional(live.pending());
        tokio::task::yield_now().await;
        assert_eq!(live.count(), 2);
        Err::<(), _>("body")
    }))
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::BodyFailed(e) if e.to_string() == "body"));
    assert!(
        err.failures().is_empty(),
        "cancelled tasks are not failures"
    );
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_body_panic_drops_inline_tasks_then_goes_on() {
    quiet_panics(ON_PURPOSE);
    let live = &Live::default();
    let spawned = Live::default();
    let s = spawned.clone();
    let payload = guard(
        AssertUnwindSafe(with_scope_inline(|scope, inline| async move {
            inline.spawn(live.pending());
            inline.spawn(live.stubborn());
            scope.spawn(s.pending());
            tokio::task::yield_now().await;
            assert_eq!(live.count(), 2);
            if live.count() == 2 {
                panic!("{ON_PURPOSE}body");
            }
            Res::Ok(())
        }))
        .catch_unwind(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert_eq!(common::panic_text(&*payload), format!("{ON_PURPOSE}body"));
    assert_eq!(
        live.count(),
        0,
        "inline tasks dropped before the panic goes on"
    );
    assert!(live.all_tokens_cancelled());
    assert_eq!(spawned.count(), 0, "spawned tasks joined too");
}

/// The body returns `Ok`: the scope waits for its inline tasks, and fails if
/// one fails meanwhile.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_scope_waits_for_inline_tasks_after_the_body() {
    let start = tokio::time::Instant::now();
    let out = guard(with_scope_inline(|_scope, inline| async move {
        inline.spawn(|_| ok_after(ms(40), ()));
        Res::Ok("body")
    }))
    .await;
    assert_eq!((out.unwrap(), start.elapsed()), ("body", ms(40)));

    let err = guard(with_scope_inline(|_scope, inline| async move {
        inline.spawn(|_| async {
            sleep(ms(10)).await;
            Err::<(), _>("after the body")
        });
        Res::Ok("body")
    }))
    .await
    .unwrap_err();
    assert_eq!(task_failed(&err).error().to_string(), "after the body");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retain_failures_keeps_the_latest_and_handlers_see_every_one() {
    let seen = Seen::default();
    let scope = guard(supervised(Some(&seen)).retain_failures(2).run_inline(
        |scope, inline| async move {
            for i in 0..5u64 {
                inline.spawn(move |_| async move {
                    sleep(ms(i)).await;
                    Err::<(), _>(format!("{i}"))
                });
            }
            Res::Ok(scope)
        },
    ))
    .await
    .unwrap();
    let texts: Vec<_> = scope
        .errors()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(texts, ["3", "4"]);
    assert_eq!(scope.failure_count(), 5);
    assert_eq!(seen.lock().unwrap().len(), 5);
}
