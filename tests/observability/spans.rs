//! Spans (SPEC.md "Details", scope-core's `observe` module, with the
//! `tracing` feature): one span per scope and per task, with their ids, names,
//! kinds and locations, each nested under its parent.

use std::io;

use async_scope::{with_scope, BoxError, Policy, Scope, TaskError};
use tracing::{Instrument, Level};

use crate::recorder::*;
use crate::support::*;

/// `file:line:` of a spawn on `line` of this file, as locations print
/// (followed by the column).
fn at(line: u32) -> String {
    format!("{}:{line}:", file!())
}

#[tokio::test(flavor = "current_thread")]
async fn every_scope_has_a_span_with_its_id_name_and_policy_nested_under_its_parent() {
    let (log, _default) = record();
    let (outer, in_body, in_task) = Scope::builder()
        .name("outer")
        .policy(Policy::Supervise)
        .run(|outer| async move {
            let in_task = outer.spawn(|_| async {
                Scope::builder()
                    .name("in-task")
                    .run(|scope| async move { Ok::<_, io::Error>(scope.id()) })
                    .await
            });
            let in_body = with_scope(|scope| async move { Ok::<_, io::Error>(scope.id()) }).await?;
            let in_task = in_task.await?;
            Ok::<_, BoxError>((outer.id(), in_body, in_task))
        })
        .await
        .unwrap();

    let outer_span = log.scope_span(outer);
    assert_eq!(
        log.span(outer_span).fields,
        fields(&[
            ("scope.id", &outer.to_string()),
            ("scope.name", "outer"),
            ("policy", "supervise"),
        ])
    );
    assert_eq!(
        log.span(outer_span).parent,
        None,
        "a root scope outside any span"
    );

    // Opened by the body: no name given, so no name field.
    let body_span = log.scope_span(in_body);
    assert_eq!(
        log.span(body_span).fields,
        fields(&[("scope.id", &in_body.to_string()), ("policy", "cancel")])
    );
    assert_eq!(log.span(body_span).parent, Some(outer_span));

    // Opened by a task: still the enclosing scope's span, not the task's.
    let task_scope_span = log.scope_span(in_task);
    assert_eq!(
        log.span(task_scope_span).fields,
        fields(&[
            ("scope.id", &in_task.to_string()),
            ("scope.name", "in-task"),
            ("policy", "cancel"),
        ])
    );
    assert_eq!(log.span(task_scope_span).parent, Some(outer_span));

    // One span per scope, nothing else named `scope`.
    let scopes = log.spans().iter().filter(|s| s.name == "scope").count();
    assert_eq!(scopes, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn every_task_has_a_span_with_its_id_kind_name_and_location_under_its_scope() {
    let (log, _default) = record();
    let lines = slot();
    let ids = slot();
    let scope_id = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| {
            let (lines, ids) = (lines.clone(), ids.clone());
            async move {
                let plain_line = line!() + 1;
                let plain = scope.spawn(ok);
                let named_line = line!() + 1;
                let named = scope.spawn_named("named", ok);
                let critical_line = line!() + 1;
                let critical = scope.task().name("commit").spawn_critical(ok);
                let optional_line = line!() + 1;
                let optional = scope.spawn_optional(ok);
                let built_line = line!() + 1;
                let built = scope.task().name("metrics").spawn_optional(ok);
                put(
                    &lines,
                    [
                        plain_line,
                        named_line,
                        critical_line,
                        optional_line,
                        built_line,
                    ],
                );
                put(
                    &ids,
                    [
                        plain.id(),
                        named.id(),
                        critical.id(),
                        optional.id(),
                        built.id(),
                    ],
                );
                Ok::<_, io::Error>(scope.id())
            }
        })
        .await
        .unwrap();

    let scope_span = log.scope_span(scope_id);
    let expected = [
        ("normal", None),
        ("normal", Some("named")),
        ("critical", Some("commit")),
        ("optional", None),
        ("optional", Some("metrics")),
    ];
    let (lines, ids) = (take(&lines), take(&ids));
    for (i, (kind, name)) in expected.into_iter().enumerate() {
        let span = log.span(log.task_span(ids[i]));
        assert_eq!(span.parent, Some(scope_span), "task {i}: {span:?}");
        assert_eq!(span.fields["task.id"], ids[i].as_u64().to_string());
        assert_eq!(span.fields["task.kind"], kind, "task {i}");
        assert_eq!(
            span.fields.get("task.name").map(String::as_str),
            name,
            "task {i}"
        );
        let location = &span.fields["task.location"];
        assert!(
            location.starts_with(&at(lines[i])),
            "task {i} spawned on line {}: {location}",
            lines[i]
        );
        assert_eq!(
            span.fields.len(),
            3 + usize::from(name.is_some()),
            "{span:?}"
        );
    }
    let tasks = log.spans().iter().filter(|s| s.name == "task").count();
    assert_eq!(tasks, 5, "one span per task");
}

#[tokio::test(flavor = "current_thread")]
async fn events_in_a_task_have_its_span_as_parent_and_the_body_runs_in_the_scope_span() {
    let (log, _default) = record();
    let ids = slot();
    let outer = with_scope(|scope| {
        let ids = ids.clone();
        async move {
            tracing::info!("in the body");
            let worker = scope.spawn_named("worker", |_| async {
                tracing::info!("worker, first poll");
                tokio::task::yield_now().await;
                tracing::info!("worker, second poll");
                Ok::<_, io::Error>(())
            });
            let nests = scope.spawn_named("nests", |_| async {
                let (inner, deep) = with_scope(|inner| async move {
                    let deep = inner.spawn(|_| async {
                        tracing::info!("deep task");
                        Ok::<_, io::Error>(())
                    });
                    tracing::info!("nested body");
                    let id = deep.id();
                    deep.await?;
                    Ok::<_, TaskError>((inner.id(), id))
                })
                .await?;
                tracing::info!("after the nested scope");
                Ok::<_, BoxError>((inner, deep))
            });
            let (worker_id, nests_id) = (worker.id(), nests.id());
            worker.await?;
            let (inner, deep) = nests.await?;
            tracing::info!("in the body, later");
            put(&ids, (worker_id, nests_id, inner, deep));
            Ok::<_, TaskError>(scope.id())
        }
    })
    .await
    .unwrap();
    tracing::info!("after the scope");

    let (worker, nests, inner, deep) = take(&ids);
    let parent_of = |message: &str| {
        let found = log.events_named(message);
        assert_eq!(found.len(), 1, "{message}: {found:?}");
        assert_eq!(found[0].level, Level::INFO);
        found[0].parent
    };
    let outer_span = log.scope_span(outer);
    let inner_span = log.scope_span(inner);
    assert_eq!(parent_of("in the body"), Some(outer_span));
    assert_eq!(parent_of("in the body, later"), Some(outer_span));
    assert_eq!(parent_of("worker, first poll"), Some(log.task_span(worker)));
    assert_eq!(
        parent_of("worker, second poll"),
        Some(log.task_span(worker))
    );
    assert_eq!(parent_of("nested body"), Some(inner_span));
    assert_eq!(parent_of("deep task"), Some(log.task_span(deep)));
    assert_eq!(log.span(log.task_span(deep)).parent, Some(inner_span));
    assert_eq!(
        parent_of("after the nested scope"),
        Some(log.task_span(nests))
    );
    assert_eq!(parent_of("after the scope"), None, "no span left entered");
}

#[tokio::test(flavor = "current_thread")]
async fn a_root_scope_span_is_parented_to_the_current_span() {
    let (log, _default) = record();
    let request = tracing::info_span!("request", id = 7);
    let scope = with_scope(|scope| async move { Ok::<_, io::Error>(scope.id()) })
        .instrument(request)
        .await
        .unwrap();
    let request = log.find_span("request", "id", "7");
    assert_eq!(log.span(log.scope_span(scope)).parent, Some(request));

    // A nested scope still hangs under its enclosing scope, whatever span the
    // task that opens it has entered.
    let (outer, inner) = with_scope(|outer| async move {
        let inner = outer
            .spawn(|_| {
                with_scope(|inner| async move { Ok::<_, io::Error>(inner.id()) })
                    .instrument(tracing::info_span!("user span"))
            })
            .await?;
        Ok::<_, TaskError>((outer.id(), inner))
    })
    .await
    .unwrap();
    assert_eq!(
        log.span(log.scope_span(inner)).parent,
        Some(log.scope_span(outer))
    );
}
