//! A recording `tracing` subscriber for the tests of scope-core's `observe`
//! module (SPEC.md "Details": spans and events with the `tracing` feature):
//! it keeps every span and event, with its fields and parent, for the
//! `spans` and `events` modules to inspect.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_scope::{ScopeId, TaskId};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as the recorder saw it: its parent is an index into `Log::spans`.
#[derive(Clone, Debug)]
pub(crate) struct SpanRec {
    pub(crate) name: &'static str,
    pub(crate) fields: BTreeMap<&'static str, String>,
    pub(crate) parent: Option<usize>,
}

/// An event as the recorder saw it: its parent is an index into `Log::spans`.
#[derive(Clone, Debug)]
pub(crate) struct EventRec {
    pub(crate) level: Level,
    pub(crate) message: String,
    pub(crate) fields: BTreeMap<&'static str, String>,
    pub(crate) parent: Option<usize>,
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
pub(crate) struct Recorder(Arc<Mutex<Log>>);

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
    pub(crate) fn spans(&self) -> Vec<SpanRec> {
        self.0.lock().unwrap().spans.clone()
    }

    pub(crate) fn events(&self) -> Vec<EventRec> {
        self.0.lock().unwrap().events.clone()
    }

    pub(crate) fn span(&self, index: usize) -> SpanRec {
        self.spans()[index].clone()
    }

    /// The one span named `name` whose `key` field is `value`.
    pub(crate) fn find_span(&self, name: &str, key: &str, value: &str) -> usize {
        let found: Vec<usize> = self
            .spans()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name == name && s.fields.get(key).map(String::as_str) == Some(value))
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
    pub(crate) fn scope_span(&self, id: ScopeId) -> usize {
        self.find_span("scope", "scope.id", &id.to_string())
    }

    /// The index of the one span of task `id`.
    pub(crate) fn task_span(&self, id: TaskId) -> usize {
        self.find_span("task", "task.id", &id.to_string())
    }

    /// The events with this message, in order.
    pub(crate) fn events_named(&self, message: &str) -> Vec<EventRec> {
        self.events()
            .into_iter()
            .filter(|e| e.message == message)
            .collect()
    }

    /// The one event with this message about task `id`.
    pub(crate) fn task_event(&self, message: &str, id: TaskId) -> (usize, EventRec) {
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
    pub(crate) fn event_in(&self, message: &str, span: usize) -> (usize, EventRec) {
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
pub(crate) fn record() -> (Recorder, tracing::subscriber::DefaultGuard) {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        tracing::subscriber::set_global_default(Quiet).expect("no global default yet");
    });
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    (recorder, tracing::subscriber::set_default(subscriber))
}

/// The fields `pairs`, as the recorder keeps them.
pub(crate) fn fields(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}
