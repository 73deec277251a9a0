//! Observability (scope-core's `observe` and `snapshot` modules): the tracing
//! spans and events of scopes and tasks, `Scope::snapshot()` and the text tree
//! it draws, and the `ASYNC_SCOPE_DEBUG` lines on stderr.
//!
//! Tracing tests (module `traced`, with the `tracing` feature) install a
//! recording layer as the thread's default subscriber and run on a
//! `current_thread` runtime, so that every task is polled on the thread where
//! that default is set. Snapshot tests run on paused time, so ages
//! are exact. `ASYNC_SCOPE_DEBUG` is read once per process: those tests run an
//! `#[ignore]`d child test in a new process of this binary.

use std::future::{pending, ready, Pending, Ready};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, Policy, Reason, Scope, ScopeState, TaskError, TaskId,
    TaskKind, TaskState,
};
use tokio::time::sleep;

mod common;
use common::{guard, settle, Res};

// === helpers: tasks ===

/// A task that succeeds at once.
fn ok(_: CancellationToken) -> Ready<Res> {
    ready(Ok(()))
}

/// A task that fails at once with "boom".
fn boom(_: CancellationToken) -> Ready<Res> {
    ready(Err("boom".into()))
}

/// A task that never ends by itself.
fn never(_: CancellationToken) -> Pending<Res> {
    pending()
}

/// A task that ignores its signal and sleeps for an hour.
async fn stubborn(_: CancellationToken) -> Res {
    sleep(Duration::from_secs(3600)).await;
    Ok(())
}

type Slot<T> = Arc<Mutex<Option<T>>>;

fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

fn put<T>(slot: &Slot<T>, value: T) {
    *slot.lock().unwrap() = Some(value);
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.lock().unwrap().take().expect("the slot was filled")
}

/// Spans and events: only with the `tracing` feature (on by default).
#[cfg(feature = "tracing")]
mod traced {
    use super::*;

    use std::collections::BTreeMap;
    use std::fmt;
    use std::panic::AssertUnwindSafe;

    use async_scope::ScopeId;
    use futures::FutureExt;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Instrument, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    // === helpers: a recording subscriber ===

    /// A span as the recorder saw it: its parent is an index into `Log::spans`.
    #[derive(Clone, Debug)]
    struct SpanRec {
        name: &'static str,
        fields: BTreeMap<&'static str, String>,
        parent: Option<usize>,
    }

    /// An event as the recorder saw it: its parent is an index into `Log::spans`.
    #[derive(Clone, Debug)]
    struct EventRec {
        level: Level,
        message: String,
        fields: BTreeMap<&'static str, String>,
        parent: Option<usize>,
    }

    #[derive(Default)]
    struct Log {
        spans: Vec<SpanRec>,
        events: Vec<EventRec>,
    }

    /// A `Layer` that records every span (name, fields, parent) and event
    /// (level, message, fields, parent span). Spans are numbered in the order they
    /// were created (the registry reuses its own ids once a span closes).
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Log>>);

    /// A span's index in `Log::spans`, kept in the registry's span extensions.
    struct Index(usize);

    #[derive(Default)]
    struct Fields(BTreeMap<&'static str, String>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name(), format!("{value:?}"));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name(), value.to_owned());
        }
    }

    fn index_of<S>(span: Option<tracing_subscriber::registry::SpanRef<'_, S>>) -> Option<usize>
    where
        S: for<'a> LookupSpan<'a>,
    {
        span.and_then(|span| span.extensions().get::<Index>().map(|index| index.0))
    }

    impl<S> Layer<S> for Recorder
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let span = ctx.span(id).expect("the registry knows a new span");
            // The registry resolved the parent: explicit, or the current span.
            let parent = index_of(span.parent());
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            let mut log = self.0.lock().unwrap();
            log.spans.push(SpanRec {
                name: attrs.metadata().name(),
                fields: fields.0,
                parent,
            });
            span.extensions_mut().insert(Index(log.spans.len() - 1));
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            if let Some(index) = index_of(ctx.span(id)) {
                let mut fields = Fields::default();
                values.record(&mut fields);
                self.0.lock().unwrap().spans[index].fields.extend(fields.0);
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            // The explicit parent, or the span current on this thread.
            let parent = index_of(ctx.event_span(event));
            let mut fields = Fields::default();
            event.record(&mut fields);
            let message = fields.0.remove("message").unwrap_or_default();
            self.0.lock().unwrap().events.push(EventRec {
                level: *event.metadata().level(),
                message,
                fields: fields.0,
                parent,
            });
        }
    }

    impl Recorder {
        fn spans(&self) -> Vec<SpanRec> {
            self.0.lock().unwrap().spans.clone()
        }

        fn events(&self) -> Vec<EventRec> {
            self.0.lock().unwrap().events.clone()
        }

        fn span(&self, index: usize) -> SpanRec {
            self.spans()[index].clone()
        }

        /// The one span named `name` whose `key` field is `value`.
        fn find_span(&self, name: &str, key: &str, value: &str) -> usize {
            let found: Vec<usize> = self
                .spans()
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.name == name && s.fields.get(key).map(String::as_str) == Some(value)
                })
                .map(|(i, _)| i)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "expected one `{name}` span with {key}={value}: {:#?}",
                self.spans()
            );
            found[0]
        }

        /// The index of the one span of scope `id`.
        fn scope_span(&self, id: ScopeId) -> usize {
            self.find_span("scope", "scope.id", &id.to_string())
        }

        /// The index of the one span of task `id`.
        fn task_span(&self, id: TaskId) -> usize {
            self.find_span("task", "task.id", &id.to_string())
        }

        /// The events with this message, in order.
        fn events_named(&self, message: &str) -> Vec<EventRec> {
            self.events()
                .into_iter()
                .filter(|e| e.message == message)
                .collect()
        }

        /// The one event with this message about task `id`.
        fn task_event(&self, message: &str, id: TaskId) -> (usize, EventRec) {
            let found: Vec<(usize, EventRec)> = self
                .events()
                .into_iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.message == message && e.fields.get("task.id") == Some(&id.to_string())
                })
                .collect();
            assert_eq!(
                found.len(),
                1,
                "expected one {message:?} event for task {id}: {:#?}",
                self.events()
            );
            found[0].clone()
        }

        /// The one event with this message whose parent is `span`.
        fn event_in(&self, message: &str, span: usize) -> (usize, EventRec) {
            let found: Vec<(usize, EventRec)> = self
                .events()
                .into_iter()
                .enumerate()
                .filter(|(_, e)| e.message == message && e.parent == Some(span))
                .collect();
            assert_eq!(
                found.len(),
                1,
                "expected one {message:?} event in span {span}: {:#?}",
                self.events()
            );
            found[0].clone()
        }
    }

    /// The global default: interested in nothing, but never caching `never`.
    ///
    /// tracing-core caches each callsite's interest. While a single dispatcher is
    /// registered it asks the default of whichever thread hits the callsite first
    /// (`Dispatchers::rebuilder`, `JustOne`), so a test thread without a
    /// subscriber, running in parallel, could cache `Interest::never` for an
    /// engine callsite and hide it from the recorder of another thread. With this
    /// global default registered too, interests are combined over every live
    /// dispatcher, and this one always says `sometimes`.
    struct Quiet;

    impl Subscriber for Quiet {
        fn register_callsite(
            &self,
            _: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            tracing::subscriber::Interest::sometimes()
        }

        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            false
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, _: &Event<'_>) {}

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Records everything on this thread until the guard is dropped.
    fn record() -> (Recorder, tracing::subscriber::DefaultGuard) {
        static QUIET: std::sync::Once = std::sync::Once::new();
        QUIET.call_once(|| {
            tracing::subscriber::set_global_default(Quiet).expect("no global default yet");
        });
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        (recorder, tracing::subscriber::set_default(subscriber))
    }

    fn fields(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    /// `file:line:` of a spawn on `line` of this file, as locations print
    /// (followed by the column).
    fn at(line: u32) -> String {
        format!("{}:{line}:", file!())
    }

    // === tracing: spans ===

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
                let in_body =
                    with_scope(|scope| async move { Ok::<_, io::Error>(scope.id()) }).await?;
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

    // === tracing: events ===

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
                failed.fields["task.location"].contains("observability.rs"),
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
}

// === snapshots ===

/// The text with every column of a location in this file left out
/// (`tests/observability.rs:12:34` → `tests/observability.rs:12`).
fn without_columns(text: &str) -> String {
    let marker = format!("{}:", file!());
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&marker) {
        let (before, after) = rest.split_at(i + marker.len());
        out.push_str(before);
        let line_len = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        out.push_str(&after[..line_len]);
        rest = &after[line_len..];
        if let Some(col) = rest.strip_prefix(':') {
            let col_len = col.find(|c: char| !c.is_ascii_digit()).unwrap_or(col.len());
            if col_len > 0 {
                rest = &col[col_len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn without_columns_leaves_only_file_and_line() {
    let text = format!("at {0}:12:34, and {0}:5:6)\n", file!());
    assert_eq!(
        without_columns(&text),
        format!("at {0}:12, and {0}:5)\n", file!())
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_snapshot_lists_live_and_failed_tasks_and_counts_the_rest() {
    guard(
        Scope::builder()
            .name("crawl")
            .policy(Policy::Supervise)
            .max_concurrency(2)
            .run(|scope| async move {
                let done = scope.spawn_named("done", ok);
                let flaky_line = line!() + 1;
                let flaky = scope.task().name("flaky").spawn_optional(boom);
                settle().await;
                assert!(done.is_finished() && flaky.is_finished());
                let doomed = scope.spawn_named("doomed", never);
                settle().await;
                doomed.cancel();
                assert!(matches!(doomed.await, Err(TaskError::Cancelled)));

                sleep(Duration::from_secs(1)).await;
                let worker_line = line!() + 1;
                let worker = scope.spawn(never);
                let resolve_line = line!() + 1;
                let resolve = scope.task().name("resolve").spawn_critical(|_| async {
                    Scope::builder()
                        .name("dns")
                        .run(|dns| async move {
                            dns.spawn_named("lookup", never);
                            pending::<()>().await;
                            Ok::<_, io::Error>(())
                        })
                        .await
                });
                let queued_line = line!() + 1;
                let queued = scope.spawn_named("queued", ok);
                settle().await;
                sleep(Duration::from_millis(2500)).await;

                let tree = scope.snapshot();
                assert_eq!(tree.id(), scope.id());
                assert_eq!(tree.name(), Some("crawl"));
                assert_eq!(tree.policy(), Policy::Supervise);
                assert_eq!(tree.state(), ScopeState::Running);
                assert!(tree.reason().is_none());
                assert_eq!(tree.age(), Duration::from_millis(3500));
                assert_eq!((tree.done(), tree.cancelled()), (1, 1));
                assert!(tree.scopes().is_empty(), "dns hangs under its task");

                let tasks = tree.tasks();
                let ids: Vec<TaskId> = tasks.iter().map(|t| t.id()).collect();
                assert_eq!(ids, [flaky.id(), worker.id(), resolve.id(), queued.id()]);
                let states: Vec<TaskState> = tasks.iter().map(|t| t.state()).collect();
                use TaskState::{Failed, Running, Waiting};
                assert_eq!(states, [Failed, Running, Running, Waiting]);
                let kinds: Vec<TaskKind> = tasks.iter().map(|t| t.kind()).collect();
                use TaskKind::{Critical, Normal, Optional};
                assert_eq!(kinds, [Optional, Normal, Critical, Normal]);
                let names: Vec<Option<&str>> = tasks.iter().map(|t| t.name()).collect();
                assert_eq!(names, [Some("flaky"), None, Some("resolve"), Some("queued")]);
                let ages: Vec<Option<Duration>> = tasks.iter().map(|t| t.age()).collect();
                let live = Some(Duration::from_millis(2500));
                assert_eq!(ages, [None, live, live, live]);
                let lines = [flaky_line, worker_line, resolve_line, queued_line];
                for (task, line) in tasks.iter().zip(lines) {
                    assert_eq!(task.location().file(), file!(), "{task:?}");
                    assert_eq!(task.location().line(), line, "{task:?}");
                    assert!(task.location().column() > 1, "{task:?}");
                }
                assert!(
                    matches!(tasks[0].error(), Some(TaskError::Failed(e)) if e.to_string() == "boom")
                );
                assert!(tasks[1..].iter().all(|t| t.error().is_none()));

                let dns = &tasks[2].scopes();
                assert_eq!(dns.len(), 1);
                assert_eq!(dns[0].name(), Some("dns"));
                assert_eq!(dns[0].policy(), Policy::Cancel);
                assert_eq!(dns[0].state(), ScopeState::Running);
                assert_eq!(dns[0].age(), Duration::from_millis(2500));
                assert_eq!(dns[0].tasks().len(), 1);
                assert_eq!(dns[0].tasks()[0].name(), Some("lookup"));
                assert_eq!(dns[0].tasks()[0].state(), Running);
                assert!(tasks.iter().filter(|t| t.id() != resolve.id()).all(|t| t.scopes().is_empty()));

                scope.cancel();
                Ok::<_, io::Error>(())
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nested_scopes_hang_under_the_task_that_runs_them_or_under_the_scope() {
    guard(with_scope(|root| async move {
        // root's task → scope "a" → a's task → scope "b".
        root.spawn_named("runs a", |_| {
            Scope::builder().name("a").run(|a| async move {
                a.spawn_named("runs b", |_| {
                    Scope::builder()
                        .name("b")
                        .run(|_| pending::<Result<(), io::Error>>())
                });
                // Opened by a's body: under "a" itself.
                Scope::builder()
                    .name("a's body")
                    .run(|_| pending::<Result<(), io::Error>>())
                    .await
            })
        });
        settle().await;
        // Opened by root's body: under root itself.
        Scope::builder()
            .name("root's body")
            .run(|_| async move {
                settle().await;
                let tree = root.snapshot();
                assert_eq!(tree.tasks().len(), 1);
                assert_eq!(tree.tasks()[0].name(), Some("runs a"));
                let names = |scopes: &[async_scope::ScopeSnapshot]| {
                    scopes
                        .iter()
                        .map(|s| s.name().unwrap().to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(tree.scopes()), ["root's body"]);
                let a = tree.tasks()[0].scopes();
                assert_eq!(names(a), ["a"]);
                assert_eq!(names(a[0].scopes()), ["a's body"]);
                assert_eq!(a[0].tasks().len(), 1);
                assert_eq!(a[0].tasks()[0].name(), Some("runs b"));
                assert_eq!(names(a[0].tasks()[0].scopes()), ["b"]);
                assert!(a[0].scopes()[0].tasks().is_empty());
                root.cancel();
                Ok::<_, io::Error>(())
            })
            .await
    }))
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ended_nested_scopes_are_left_out() {
    guard(Scope::builder().name("outer").run(|outer| async move {
        // Ended, with a handle kept: ok, and failed.
        let ended_ok = with_scope(|s| async move { Ok::<_, io::Error>(s) }).await?;
        let failed = slot();
        let err = with_scope(|s| {
            let failed = failed.clone();
            async move {
                put(&failed, s);
                Err::<(), _>("nope")
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::BodyFailed(_)), "{err}");
        let ended_failed = take(&failed);
        // A task that ran a nested scope to its end and goes on.
        let ran = slot();
        let runner = outer.spawn_named("runner", {
            let ran = ran.clone();
            |_| async move {
                with_scope(|s| async move {
                    put(&ran, s);
                    Ok::<_, io::Error>(())
                })
                .await?;
                pending::<()>().await;
                Ok::<_, BoxError>(())
            }
        });
        settle().await;
        sleep(Duration::from_secs(1)).await;

        let tree = outer.snapshot();
        assert!(tree.scopes().is_empty(), "{tree}");
        assert_eq!(tree.tasks().len(), 1);
        assert_eq!(tree.tasks()[0].id(), runner.id());
        assert!(tree.tasks()[0].scopes().is_empty(), "{tree}");

        // The handles of ended scopes still draw themselves.
        let ok_tree = ended_ok.snapshot();
        assert_eq!(ok_tree.state(), ScopeState::Closing);
        assert!(ok_tree.reason().is_none());
        assert_eq!(
            ok_tree.to_string(),
            format!(
                "✓ scope {} (cancel) body ended, open for 1s: no tasks\n",
                ended_ok.id()
            )
        );
        let failed_tree = ended_failed.snapshot();
        assert_eq!(failed_tree.state(), ScopeState::Cancelled);
        assert!(matches!(failed_tree.reason(), Some(Reason::BodyFailed(_))));
        assert_eq!(
            failed_tree.to_string(),
            format!(
                "⊘ scope {} (cancel) cancelled (the body failed: nope), open for 1s: no tasks\n",
                ended_failed.id()
            )
        );
        let ended_in_task = take(&ran);
        assert_eq!(ended_in_task.snapshot().state(), ScopeState::Closing);

        outer.cancel();
        Ok::<_, BoxError>(())
    }))
    .await
    .unwrap_err();
}

/// The scope keeps its tasks' records (names apart) and drops those of
/// ended tasks in batches: after many have come and gone, the live ones and a
/// late failure still carry their own names and kinds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn task_names_survive_the_pruning_of_ended_tasks_records() {
    guard(
        Scope::builder()
            .policy(Policy::Supervise)
            .on_error(|_| {})
            .run(|scope| async move {
                let mut live = Vec::new();
                for i in 0..300 {
                    if i % 100 == 50 {
                        live.push(scope.spawn_named(format!("live {i}"), never).id());
                    } else if i % 2 == 0 {
                        scope.spawn_named(format!("done {i}"), ok);
                    } else {
                        scope.spawn(ok);
                    }
                    if i % 10 == 9 {
                        settle().await;
                    }
                }
                settle().await;
                let late = scope.spawn_named("late", |_| async {
                    sleep(Duration::from_millis(5)).await;
                    Err::<(), _>("late failure")
                });
                sleep(Duration::from_millis(10)).await;
                assert!(late.await.is_err());

                let snapshot = scope.snapshot();
                let running: Vec<(TaskId, Option<&str>)> = snapshot
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Running)
                    .map(|t| (t.id(), t.name()))
                    .collect();
                assert_eq!(
                    running,
                    [
                        (live[0], Some("live 50")),
                        (live[1], Some("live 150")),
                        (live[2], Some("live 250")),
                    ]
                );
                let errors = scope.errors();
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].name(), Some("late"));
                assert_eq!(errors[0].kind(), TaskKind::Normal);
                scope.cancel();
                Ok::<_, BoxError>(())
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancelled_scope_shows_its_state_and_reason() {
    let err = guard(
        Scope::builder()
            .name("strict")
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                let stubborn_line = line!() + 1;
                let stubborn = scope.spawn_named("stubborn", stubborn);
                let cleanup_line = line!() + 1;
                let cleanup = scope.spawn_named("cleanup", |_| {
                    Scope::builder().name("inner").run(|inner| async move {
                        inner.spawn(never);
                        // The body is not interrupted: the scope stays open.
                        sleep(Duration::from_secs(10)).await;
                        Ok::<_, io::Error>(())
                    })
                });
                settle().await;
                let bad_line = line!() + 1;
                let bad = scope.spawn_named("bad", boom);
                sleep(Duration::from_secs(1)).await;

                let tree = scope.snapshot();
                assert_eq!(tree.state(), ScopeState::Cancelled);
                let Some(Reason::TaskFailed(failure)) = tree.reason() else {
                    panic!("{tree}")
                };
                assert_eq!(failure.task(), bad.id());
                let ids: Vec<TaskId> = tree.tasks().iter().map(|t| t.id()).collect();
                assert_eq!(ids, [stubborn.id(), cleanup.id(), bad.id()]);
                let states: Vec<TaskState> = tree.tasks().iter().map(|t| t.state()).collect();
                use TaskState::{Failed, Running};
                assert_eq!(states, [Running, Running, Failed], "in their grace period");
                let inner = &tree.tasks()[1].scopes()[0];
                assert_eq!(inner.state(), ScopeState::Cancelled);
                assert!(matches!(inner.reason(), Some(Reason::Cancelled)));
                assert_eq!((inner.done(), inner.cancelled()), (0, 1));
                assert!(inner.tasks().is_empty());

                let file = file!();
                let expected = format!(
                    "⊘ scope {scope} \"strict\" (cancel) cancelled (task {bad} \"bad\" (spawned at {file}:{bad_line}) failed: boom), open for 1s: 2 live, 1 failed\n\
                     ├─ ▶ task {stubborn} \"stubborn\" running for 1s, spawned at {file}:{stubborn_line}\n\
                     ├─ ▶ task {cleanup} \"cleanup\" running for 1s, spawned at {file}:{cleanup_line}\n\
                     │  └─ ⊘ scope {inner} \"inner\" (cancel) cancelled (cancelled), open for 1s: 1 cancelled\n\
                     └─ ✗ task {bad} \"bad\" failed: boom, spawned at {file}:{bad_line}\n",
                    scope = scope.id(),
                    bad = bad.id(),
                    stubborn = stubborn.id(),
                    cleanup = cleanup.id(),
                    inner = inner.id(),
                );
                assert_eq!(without_columns(&tree.to_string()), expected);

                let _ = stubborn.await;
                Ok::<_, io::Error>(())
            }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_snapshot_draws_a_tree_and_debug_shows_the_same() {
    let lookup = slot();
    guard(
        Scope::builder()
            .name("render")
            .policy(Policy::Supervise)
            .max_concurrency(2)
            .run(|outer| {
                let lookup = lookup.clone();
                async move {
                    outer.spawn_named("done", ok);
                    let flaky_line = line!() + 1;
                    let flaky = outer.task().name("flaky").spawn_optional(boom);
                    settle().await;
                    let doomed = outer.spawn_named("doomed", never);
                    settle().await;
                    doomed.cancel();
                    let _ = doomed.await;

                    let found = lookup.clone();
                    let resolve_line = line!() + 1;
                    let resolve = outer.task().name("resolve").spawn_critical(|_| {
                        Scope::builder().name("dns").run(|dns| async move {
                            let line = line!() + 1;
                            let task = dns.spawn(never);
                            put(&found, (dns.id(), task.id(), line));
                            pending::<Result<(), io::Error>>().await
                        })
                    });
                    let worker_line = line!() + 1;
                    let worker = outer.spawn_named("worker", never);
                    let queued_line = line!() + 1;
                    let queued = outer.spawn_named("queued", ok);
                    settle().await;
                    sleep(Duration::from_secs(1)).await;

                    let audit = Scope::builder().name("audit").run(|audit| async move {
                        let audit_line = line!() + 1;
                        let audit_task = audit.spawn(never);
                        sleep(Duration::from_millis(2500)).await;

                        let text = outer.snapshot().to_string();
                        let (dns, lookup, lookup_line) = take(&lookup);
                        let file = file!();
                        let expected = format!(
                            "scope {outer} \"render\" (supervise) running for 3.5s: 3 live, 1 failed, 1 done, 1 cancelled\n\
                             ├─ ✗ optional task {flaky} \"flaky\" failed: boom, spawned at {file}:{flaky_line}\n\
                             ├─ ▶ critical task {resolve} \"resolve\" running for 3.5s, spawned at {file}:{resolve_line}\n\
                             │  └─ scope {dns} \"dns\" (cancel) running for 3.5s: 1 live\n\
                             │     └─ ▶ task {lookup} running for 3.5s, spawned at {file}:{lookup_line}\n\
                             ├─ ▶ task {worker} \"worker\" running for 3.5s, spawned at {file}:{worker_line}\n\
                             ├─ ⧗ task {queued} \"queued\" waiting for a slot for 3.5s, spawned at {file}:{queued_line}\n\
                             └─ scope {audit} \"audit\" (cancel) running for 2.5s: 1 live\n\
                             \x20  └─ ▶ task {audit_task} running for 2.5s, spawned at {file}:{audit_line}\n",
                            outer = outer.id(),
                            flaky = flaky.id(),
                            resolve = resolve.id(),
                            worker = worker.id(),
                            queued = queued.id(),
                            audit = audit.id(),
                            audit_task = audit_task.id(),
                        );
                        assert_eq!(without_columns(&text), expected, "\n{text}");
                        // Debug draws the same tree (same clock: time is paused).
                        assert_eq!(format!("{outer:?}"), text);
                        outer.cancel();
                        Ok::<_, io::Error>(())
                    });
                    let _ = audit.await;
                    Ok::<_, io::Error>(())
                }
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_carries_the_name_of_its_task() {
    Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            scope.spawn_named("named", boom);
            scope.task().name("built").spawn_optional(boom);
            scope.spawn(boom);
            scope.wait_for_completion().await?;
            let names: Vec<Option<String>> = scope
                .errors()
                .iter()
                .map(|f| f.name().map(str::to_owned))
                .collect();
            assert_eq!(names, [Some("named".into()), Some("built".into()), None]);
            Ok::<_, async_scope::ScopeError>(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scope_whose_body_has_ended_is_closing_while_its_last_tasks_run() {
    let seen = slot();
    let id = Scope::builder()
        .name("closing")
        .run(|scope| {
            let seen = seen.clone();
            async move {
                scope.spawn_named("last", |_| async move {
                    sleep(Duration::from_secs(2)).await;
                    put(&seen, Scope::current().unwrap().snapshot());
                    Ok::<_, io::Error>(())
                });
                Ok::<_, io::Error>(scope.id())
            }
        })
        .await
        .unwrap();
    // Taken by the last task, 2 s after the body returned.
    let tree = take(&seen);
    assert_eq!(tree.state(), ScopeState::Closing, "{tree}");
    let first = tree.to_string().lines().next().unwrap().to_owned();
    assert_eq!(
        first,
        format!("✓ scope {id} \"closing\" (cancel) body ended, open for 2s: 1 live")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_task_is_listed_once_even_while_its_failure_is_handled() {
    let scope_slot: Slot<Scope> = slot();
    let seen = slot();
    let handler = {
        let (scope_slot, seen) = (scope_slot.clone(), seen.clone());
        move |_: &async_scope::TaskFailure| {
            let scope = scope_slot.lock().unwrap().clone().unwrap();
            put(&seen, scope.snapshot());
        }
    };
    let bad = Scope::builder()
        .policy(Policy::Supervise)
        .on_error(handler)
        .run(|scope| async move {
            put(&scope_slot, scope.clone());
            let bad = scope.spawn_named("bad", boom);
            let id = bad.id();
            let _ = bad.await;
            Ok::<_, io::Error>(id)
        })
        .await
        .unwrap();
    let tree = take(&seen);
    let listed: Vec<(TaskId, TaskState)> =
        tree.tasks().iter().map(|t| (t.id(), t.state())).collect();
    assert_eq!(listed, [(bad, TaskState::Failed)], "\n{tree}");
    assert!(
        tree.to_string()
            .lines()
            .next()
            .unwrap()
            .ends_with(": 1 failed"),
        "\n{tree}"
    );
}

// === ASYNC_SCOPE_DEBUG ===

/// The child test: a scenario with every kind of lifecycle line. It prints the
/// lines it expects on stderr to stdout, prefixed `expect: `, with columns left out.
const CHILD: &str = "debug_lines_child";

#[tokio::test(flavor = "current_thread")]
#[ignore = "run in a child process by the ASYNC_SCOPE_DEBUG tests"]
async fn debug_lines_child() {
    let file = file!();
    let inner_ids = slot();
    let (app, flaky, flaky_line, nested, nested_line, nested_error) = Scope::builder()
        .name("app")
        .policy(Policy::Supervise)
        .on_error(|_| {})
        .run(|app| {
            let inner_ids = inner_ids.clone();
            async move {
                let flaky_line = line!() + 1;
                let flaky = app.spawn_named("flaky", boom);
                let flaky_id = flaky.id();
                let _ = flaky.await;
                let nested_line = line!() + 1;
                let nested = app.spawn_named("nested", |_| {
                    Scope::builder().name("inner").run(|inner| async move {
                        let sleeper_line = line!() + 1;
                        let sleeper = inner.spawn_named("sleeper", never);
                        settle().await;
                        let bad_line = line!() + 1;
                        let bad = inner.spawn_named("bad", boom);
                        put(
                            &inner_ids,
                            (inner.id(), sleeper.id(), sleeper_line, bad.id(), bad_line),
                        );
                        Ok::<_, io::Error>(())
                    })
                });
                let nested_id = nested.id();
                let nested_error = nested.await.unwrap_err().to_string();
                Ok::<_, io::Error>((
                    app.id(),
                    flaky_id,
                    flaky_line,
                    nested_id,
                    nested_line,
                    nested_error,
                ))
            }
        })
        .await
        .unwrap();
    let (inner, sleeper, sleeper_line, bad, bad_line) = take(&inner_ids);
    let bad_failure = format!("task {bad} \"bad\" (spawned at {file}:{bad_line}) failed: boom");
    let expected = [
        format!("scope {app} \"app\" opened (policy supervise)"),
        format!("scope {app} \"app\": task {flaky} \"flaky\" spawned at {file}:{flaky_line}"),
        format!("scope {app} \"app\": task {flaky} \"flaky\" failed (recorded): boom"),
        format!("scope {app}: error handler called for task {flaky}"),
        format!("scope {app} \"app\": task {nested} \"nested\" spawned at {file}:{nested_line}"),
        format!("scope {inner} \"inner\" opened (policy cancel), nested in scope {app}"),
        format!(
            "scope {inner} \"inner\": task {sleeper} \"sleeper\" spawned at {file}:{sleeper_line}"
        ),
        format!("scope {inner} \"inner\": task {bad} \"bad\" spawned at {file}:{bad_line}"),
        format!("scope {inner} \"inner\": task {bad} \"bad\" failed (fails the scope): boom"),
        format!("scope {inner} \"inner\" cancelled: {bad_failure}"),
        format!("scope {inner} \"inner\": task {sleeper} \"sleeper\" cancelled"),
        format!("scope {inner} \"inner\" closed: failed: {bad_failure}"),
        format!("scope {app} \"app\": task {nested} \"nested\" failed (recorded): {nested_error}"),
        format!("scope {app}: error handler called for task {nested}"),
        format!("scope {app} \"app\" closed: ok"),
    ];
    for line in expected {
        println!("expect: {}", without_columns(&line));
    }
}

struct ChildRun {
    /// The lines the child expects, in order.
    expected: Vec<String>,
    /// The child's `async-scope:` lines on stderr, prefix and columns left out.
    lines: Vec<String>,
    stderr: String,
}

/// Runs [`debug_lines_child`] in a new process of this test binary, with
/// `ASYNC_SCOPE_DEBUG` set to `debug` (or unset).
fn run_child(debug: Option<&str>) -> ChildRun {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        CHILD,
        "--nocapture",
        "--ignored",
        "--test-threads=1",
    ]);
    match debug {
        Some(value) => command.env("ASYNC_SCOPE_DEBUG", value),
        None => command.env_remove("ASYNC_SCOPE_DEBUG"),
    };
    let output = command.output().expect("the test binary runs again");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "the child test ran:\n{stdout}");
    let expected: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.split_once("expect: ").map(|(_, e)| e.to_owned()))
        .collect();
    assert_eq!(expected.len(), 15, "{stdout}");
    let lines = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("async-scope: "))
        .map(without_columns)
        .collect();
    ChildRun {
        expected,
        lines,
        stderr,
    }
}

#[test]
fn async_scope_debug_prints_one_line_per_lifecycle_event() {
    let run = run_child(Some("1"));
    assert_eq!(run.lines, run.expected, "stderr:\n{}", run.stderr);
    // Every line is one whole event: nothing else on stderr.
    assert_eq!(
        run.stderr.lines().count(),
        run.expected.len(),
        "{}",
        run.stderr
    );
}

#[test]
fn without_async_scope_debug_nothing_is_printed() {
    for debug in [None, Some("0"), Some("")] {
        let run = run_child(debug);
        assert!(
            !run.stderr.contains("async-scope:"),
            "ASYNC_SCOPE_DEBUG={debug:?}:\n{}",
            run.stderr
        );
    }
    // Any other value turns it on.
    let run = run_child(Some("yes"));
    assert_eq!(run.lines, run.expected, "stderr:\n{}", run.stderr);
}
