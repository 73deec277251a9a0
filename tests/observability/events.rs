//! Events (SPEC.md "Details", scope-core's `observe` module, with the
//! `tracing` feature): failures, handler calls, cancellation, timeouts and the
//! closing of a scope, each an event in the right span with its reason.

use std::future::pending;
use std::io;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_scope::{with_scope, BoxError, Policy, Reason, Scope};
use futures::FutureExt;
use tracing::Level;

use crate::common::{guard, settle};
use crate::recorder::*;
use crate::support::*;

#[tokio::test(flavor = "current_thread")]
async fn a_failure_is_a_warning_in_the_task_span_and_each_handler_call_an_event() {
    let (log, _default) = record();
    let ids = slot();
    let outer = Scope::builder()
        .name("supervisor")
        .policy(Policy::Supervise)
        .on_error(|_| {})
        .run(|scope| {
            let ids = ids.clone();
            async move {
                let flaky = scope.spawn_named("flaky", boom);
                let flaky_id = flaky.id();
                assert!(flaky.await.is_err());
                // A nested scope without a handler: its optional failure goes
                // to the supervisor's handler.
                let (plain, gone) = with_scope(|inner| async move {
                    let gone = inner.spawn_optional(boom);
                    let id = gone.id();
                    assert_eq!(gone.await, None);
                    Ok::<_, io::Error>((inner.id(), id))
                })
                .await?;
                // A nested scope whose handler panics: it is removed and the
                // supervisor's handler takes over.
                let (panicky, lost) = Scope::builder()
                    .policy(Policy::Supervise)
                    .on_error(|_| panic!("the handler broke"))
                    .run(|inner| async move {
                        let lost = inner.spawn(|_| async { Err::<(), _>("lost") });
                        let id = lost.id();
                        assert!(lost.await.is_err());
                        Ok::<_, io::Error>((inner.id(), id))
                    })
                    .await?;
                put(&ids, (flaky_id, plain, gone, panicky, lost));
                Ok::<_, BoxError>(scope.id())
            }
        })
        .await
        .unwrap();

    let (flaky, plain, gone, panicky, lost) = take(&ids);
    let outer_span = log.scope_span(outer);

    for (task, error, scope, kind, name) in [
        (flaky, "boom", outer, "normal", Some("flaky")),
        (gone, "boom", plain, "optional", None),
        (lost, "lost", panicky, "normal", None),
    ] {
        let (failed_at, failed) = log.task_event("task failed", task);
        assert_eq!(failed.level, Level::WARN);
        assert_eq!(failed.fields["error"], error);
        assert_eq!(failed.fields["fails_scope"], "false");
        // Complete without its span: which scope, which task, where.
        assert_eq!(failed.fields["scope.id"], scope.to_string());
        assert_eq!(
            failed.fields.get("scope.name").map(String::as_str),
            (scope == outer).then_some("supervisor")
        );
        assert_eq!(failed.fields["task.kind"], kind);
        assert_eq!(failed.fields.get("task.name").map(String::as_str), name);
        assert!(
            failed.fields["task.location"].contains(file!()),
            "{:?}",
            failed.fields
        );
        assert_eq!(
            failed.parent,
            Some(log.task_span(task)),
            "in the task's span"
        );
        assert_eq!(
            log.span(log.task_span(task)).parent,
            Some(log.scope_span(scope))
        );

        let (called_at, called) = log.task_event("error handler called", task);
        assert_eq!(called.level, Level::DEBUG);
        assert_eq!(
            called.parent,
            Some(outer_span),
            "in the handler's scope span"
        );
        assert!(failed_at < called_at);
    }

    let (panicked_at, panicked) = log.task_event(
        "error handler panicked; removed, the next one up takes over",
        lost,
    );
    assert_eq!(panicked.level, Level::ERROR);
    assert_eq!(panicked.parent, Some(log.scope_span(panicky)));
    assert!(panicked_at < log.task_event("error handler called", lost).0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_that_fails_the_scope_cancels_it_with_its_reason() {
    let (log, _default) = record();
    let ids = slot();
    let inner_id = slot();
    let err = Scope::builder()
        .name("strict")
        .run(|scope| {
            let (ids, inner_id) = (ids.clone(), inner_id.clone());
            async move {
                let sleeper = scope.spawn_named("sleeper", never);
                let holder = scope.spawn_named("holder", |_| async move {
                    with_scope(|inner| async move {
                        put(&inner_id, inner.id());
                        inner.spawn(never);
                        Ok::<_, io::Error>(())
                    })
                    .await
                });
                settle().await;
                let bad = scope.spawn_named("bad", boom);
                put(&ids, (scope.id(), sleeper.id(), holder.id(), bad.id()));
                let _ = sleeper.await;
                Ok::<_, io::Error>(())
            }
        })
        .await
        .unwrap_err();

    let (strict, sleeper, holder, bad) = take(&ids);
    let Reason::TaskFailed(failure) = err.reason() else {
        panic!("{err}")
    };
    assert_eq!(failure.task(), bad);
    let reason = err.reason().to_string();
    let strict = log.scope_span(strict);
    let inner = log.scope_span(take(&inner_id));

    let (failed_at, failed) = log.task_event("task failed", bad);
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(failed.fields["error"], "boom");
    assert_eq!(failed.fields["fails_scope"], "true");
    assert_eq!(failed.parent, Some(log.task_span(bad)));

    let (cancelled_at, cancelled) = log.event_in("scope cancelled", strict);
    assert_eq!(cancelled.level, Level::INFO);
    assert_eq!(cancelled.fields["reason"], reason);
    assert!(failed_at < cancelled_at);

    // Cancellation flows down: the nested scope is cancelled too, and is
    // dropped with the aborted task that ran it.
    let (_, nested) = log.event_in("scope cancelled", inner);
    assert_eq!(nested.fields["reason"], "cancelled");
    let (_, dropped) = log.event_in("scope dropped: its tasks were aborted", inner);
    assert_eq!(dropped.level, Level::INFO);

    for task in [sleeper, holder] {
        let (_, event) = log.task_event("task cancelled", task);
        assert_eq!(event.level, Level::DEBUG);
        assert_eq!(event.parent, Some(strict));
    }

    let (closed_at, closed) = log.event_in("scope closed: failed", strict);
    assert_eq!(closed.level, Level::INFO);
    assert_eq!(closed.fields["reason"], reason);
    assert!(cancelled_at < closed_at);
    assert_eq!(log.events_named("scope cancelled").len(), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancel_and_timeout_are_events_with_their_reason() {
    let (log, _default) = record();

    let cancelled = slot();
    let err = with_scope(|scope| {
        let cancelled = cancelled.clone();
        async move {
            put(&cancelled, scope.id());
            scope.spawn(never);
            scope.cancel();
            Ok::<_, io::Error>(())
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    let span = log.scope_span(take(&cancelled));
    let (at, event) = log.event_in("scope cancelled", span);
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.fields, fields(&[("reason", "cancelled")]));
    let (closed_at, closed) = log.event_in("scope closed: failed", span);
    assert_eq!(closed.fields, fields(&[("reason", "cancelled")]));
    assert!(at < closed_at);

    let timed_out = slot();
    let err = guard(
        Scope::builder()
            .timeout(Duration::from_secs(5))
            .run(|scope| {
                let timed_out = timed_out.clone();
                async move {
                    put(&timed_out, scope.id());
                    scope.spawn(never);
                    Ok::<_, io::Error>(())
                }
            }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TimedOut));
    let span = log.scope_span(take(&timed_out));
    let (_, event) = log.event_in("scope cancelled", span);
    assert_eq!(event.fields, fields(&[("reason", "timed out")]));
    let (_, closed) = log.event_in("scope closed: failed", span);
    assert_eq!(closed.fields, fields(&[("reason", "timed out")]));
}

#[tokio::test(flavor = "current_thread")]
async fn the_scope_closed_event_tells_how_it_ended() {
    let (log, _default) = record();
    let id = slot();

    // Ok.
    with_scope(|scope| {
        let id = id.clone();
        async move {
            put(&id, scope.id());
            scope.spawn(ok);
            Ok::<_, io::Error>(())
        }
    })
    .await
    .unwrap();
    let span = log.scope_span(take(&id));
    let (_, closed) = log.event_in("scope closed: ok", span);
    assert_eq!(closed.level, Level::DEBUG);
    assert!(closed.fields.is_empty(), "{closed:?}");
    assert!(log.events().iter().all(|e| e.message != "scope cancelled"));

    // The body failed.
    let err = with_scope(|scope| {
        let id = id.clone();
        async move {
            put(&id, scope.id());
            Err::<(), _>("nope")
        }
    })
    .await
    .unwrap_err();
    let span = log.scope_span(take(&id));
    let (_, cancelled) = log.event_in("scope cancelled", span);
    assert_eq!(cancelled.fields["reason"], "the body failed: nope");
    let (_, closed) = log.event_in("scope closed: failed", span);
    assert_eq!(closed.level, Level::INFO);
    assert_eq!(closed.fields["reason"], err.reason().to_string());
    assert_eq!(closed.fields["reason"], "the body failed: nope");

    // The body panicked.
    let panicked = AssertUnwindSafe(with_scope(|scope| {
        let id = id.clone();
        async move {
            put(&id, scope.id());
            if scope.policy() == Policy::Cancel {
                // Always true; keeps the `Ok` below reachable for the types.
                panic!("the body broke");
            }
            Ok::<_, io::Error>(())
        }
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    let span = log.scope_span(take(&id));
    let (_, closed) = log.event_in("scope closed: the body panicked", span);
    assert_eq!(closed.level, Level::INFO);

    // The scope's future was dropped before it ended.
    let mut run = Box::pin(with_scope(|scope| {
        let id = id.clone();
        async move {
            put(&id, scope.id());
            scope.spawn(never);
            pending::<()>().await;
            Ok::<_, io::Error>(())
        }
    }));
    assert!(futures::poll!(run.as_mut()).is_pending());
    drop(run);
    let span = log.scope_span(take(&id));
    let (_, dropped) = log.event_in("scope dropped: its tasks were aborted", span);
    assert_eq!(dropped.level, Level::INFO);
    assert!(
        log.events().iter().all(|e| e.parent != Some(span)
            || e.message == "scope dropped: its tasks were aborted"
            || e.message == "task cancelled"),
        "a dropped scope reports nothing else: {:#?}",
        log.events()
    );
}
