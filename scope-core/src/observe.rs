//! Observability: the one place lifecycle events leave the engine.
//!
//! Every event (scope opened, task spawned, task failed, handler called,
//! scope cancelled, task cancelled, scope closed) is a function here, called
//! by the engine at the point where the event happens. Each one goes to two
//! sinks:
//!
//! - [`tracing`](https://docs.rs/tracing), with the `tracing` feature (on by
//!   default): a span per scope (`scope`, fields `scope.id`, `scope.name`,
//!   `policy`) parented to the enclosing scope's span, or to the current span
//!   for a root scope; a span per task (`task`, fields `task.id`, `task.kind`,
//!   `task.name`, `task.location`) parented to its scope's span and entered
//!   whenever the task is polled (the body is polled inside the scope's span);
//!   events for failures (`WARN`), handler calls (`DEBUG`, `ERROR` when the
//!   handler panicked), cancellation with its reason (`INFO`) and the outcome
//!   of each scope (`DEBUG`, or `INFO` when it failed).
//! - stderr, when the environment variable `ASYNC_SCOPE_DEBUG` is set to
//!   anything but `0` or the empty string (read once per process), as
//!   async-hook-domain's debug switch does: one line per event, prefixed
//!   `async-scope:`, with or without a subscriber.
//!
//! Cost when nobody listens: a task span is only made when a subscriber is
//! interested in it, and then the task's future is wrapped in it ([`Traced`]);
//! otherwise the task carries nothing for tracing. Each event is a check of
//! tracing's cached callsite interest and of one static flag, and an event
//! that needs a task's record from its scope (task cancelled) looks it up
//! only when someone listens.

use std::fmt;
use std::sync::LazyLock;

use crate::error::{Reason, TaskFailure};
use crate::ids::{ScopeId, TaskId, TaskMeta};
use crate::policy::{Policy, TaskKind};

static DEBUG: LazyLock<bool> = LazyLock::new(|| {
    std::env::var_os("ASYNC_SCOPE_DEBUG").is_some_and(|value| !value.is_empty() && value != "0")
});

/// Whether `ASYNC_SCOPE_DEBUG` asks for lifecycle lines on stderr.
fn debug() -> bool {
    *DEBUG
}

/// A panic caught from a tracing subscriber, which is user code.
pub(crate) type Panic = Box<dyn std::any::Any + Send>;

/// Runs `report` (an event) with a subscriber's panic caught, so that the
/// engine's bookkeeping around it is never left half done; the caller
/// [`resume`]s the panic once that bookkeeping is complete.
pub(crate) fn shielded(report: impl FnOnce()) -> Option<Panic> {
    shielded_with(report).err()
}

/// [`shielded`], for an event that returns something (a span).
pub(crate) fn shielded_with<R>(report: impl FnOnce() -> R) -> Result<R, Panic> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(report))
}

/// Resumes a panic [`shielded`] caught, if any.
pub(crate) fn resume(panic: Option<Panic>) {
    if let Some(panic) = panic {
        std::panic::resume_unwind(panic);
    }
}

/// Writes one debug line to stderr (a single `eprintln!`, so lines from
/// different threads do not interleave).
fn line(args: fmt::Arguments<'_>) {
    use std::io::Write as _;
    // Not `eprintln!`, which panics when stderr is gone (a closed pipe):
    // a debug line is never worth a panic inside the engine's bookkeeping.
    let _ = writeln!(std::io::stderr(), "async-scope: {args}");
}

/// How a scope is named in debug lines: `scope 3 "crawl"`.
struct ScopeLabel<'a>(ScopeId, Option<&'a str>);

impl fmt::Display for ScopeLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scope {}", self.0)?;
        match self.1 {
            Some(name) => write!(f, " {name:?}"),
            None => Ok(()),
        }
    }
}

/// How a task is named in debug lines: `critical task 7 "commit"`.
struct TaskLabel<'a>(TaskKind, TaskId, Option<&'a str>);

impl<'a> TaskLabel<'a> {
    fn of(meta: &'a TaskMeta) -> Self {
        TaskLabel(meta.kind, meta.id, meta.name.as_deref())
    }
}

impl fmt::Display for TaskLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TaskKind::Normal => {}
            kind => write!(f, "{kind} ")?,
        }
        write!(f, "task {}", self.1)?;
        match self.2 {
            Some(name) => write!(f, " {name:?}"),
            None => Ok(()),
        }
    }
}

/// A scope's span (empty without the `tracing` feature).
pub(crate) struct ScopeSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// A task's span, made only when a subscriber wants it (uninhabited
/// without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(crate) type TaskSpan = tracing::Span;
#[cfg(not(feature = "tracing"))]
pub(crate) enum TaskSpan {}

/// A task's future with its span entered on every poll and while it is
/// dropped.
#[cfg(feature = "tracing")]
pub(crate) type Traced<F> = tracing::instrument::Instrumented<F>;
#[cfg(not(feature = "tracing"))]
pub(crate) type Traced<F> = F;

/// Wraps a task's future in its span.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))] // no span: never called
pub(crate) fn traced<F>(fut: F, span: TaskSpan) -> Traced<F> {
    #[cfg(feature = "tracing")]
    return tracing::Instrument::instrument(fut, span);
    #[cfg(not(feature = "tracing"))]
    match span {}
}

/// What entering a span returns; leaving happens on drop.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::Entered<'a>,
    #[cfg(not(feature = "tracing"))]
    _span: std::marker::PhantomData<&'a ()>,
}

impl ScopeSpan {
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn new(id: ScopeId, name: Option<&str>, policy: Policy, parent: Option<&ScopeSpan>) -> Self {
        #[cfg(feature = "tracing")]
        {
            let span = match parent {
                Some(parent) => tracing::info_span!(
                    parent: &parent.span,
                    "scope",
                    scope.id = id.as_u64(),
                    scope.name = name,
                    policy = %policy,
                ),
                None => tracing::info_span!(
                    "scope",
                    scope.id = id.as_u64(),
                    scope.name = name,
                    policy = %policy,
                ),
            };
            ScopeSpan { span }
        }
        #[cfg(not(feature = "tracing"))]
        ScopeSpan {}
    }

    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tracing")]
            _entered: self.span.enter(),
            #[cfg(not(feature = "tracing"))]
            _span: std::marker::PhantomData,
        }
    }
}

/// A scope was opened; returns its span.
pub(crate) fn scope_opened(
    id: ScopeId,
    name: Option<&str>,
    policy: Policy,
    parent: Option<(ScopeId, &ScopeSpan)>,
) -> ScopeSpan {
    let span = ScopeSpan::new(id, name, policy, parent.map(|(_, span)| span));
    if debug() {
        match parent {
            Some((parent, _)) => line(format_args!(
                "{} opened (policy {policy}), nested in scope {parent}",
                ScopeLabel(id, name)
            )),
            None => line(format_args!(
                "{} opened (policy {policy})",
                ScopeLabel(id, name)
            )),
        }
    }
    span
}

/// A task was spawned; returns its span if a subscriber wants it.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn task_spawned(
    scope: ScopeId,
    scope_name: Option<&str>,
    scope_span: &ScopeSpan,
    meta: &TaskMeta,
) -> Option<TaskSpan> {
    if debug() {
        line(format_args!(
            "{}: {} spawned at {}",
            ScopeLabel(scope, scope_name),
            TaskLabel::of(meta),
            meta.location
        ));
    }
    #[cfg(feature = "tracing")]
    {
        let span = tracing::info_span!(
            parent: &scope_span.span,
            "task",
            task.id = meta.id.as_u64(),
            task.kind = %meta.kind,
            task.name = meta.name.as_deref(),
            task.location = %meta.location,
        );
        (!span.is_disabled()).then_some(span)
    }
    #[cfg(not(feature = "tracing"))]
    None
}

/// The name a task shows in tokio-console: `scope-name/task-name`, with ids
/// for what has no name (`scope-3/task-17`). Made only when the crate is
/// built with `--cfg tokio_unstable` and the `tracing` feature, where tasks
/// are spawned through Tokio's task builder (`scope/spawn.rs`); otherwise
/// it is `()` and costs nothing.
#[cfg(all(tokio_unstable, feature = "tracing"))]
pub(crate) type ConsoleName = String;
/// See above: nothing without `--cfg tokio_unstable`.
#[cfg(not(all(tokio_unstable, feature = "tracing")))]
pub(crate) type ConsoleName = ();

/// Names a task for tokio-console (see [`ConsoleName`]).
#[cfg_attr(
    not(all(tokio_unstable, feature = "tracing")),
    allow(unused_variables, clippy::unused_unit)
)]
pub(crate) fn console_name(
    scope: ScopeId,
    scope_name: Option<&str>,
    meta: &TaskMeta,
) -> ConsoleName {
    #[cfg(all(tokio_unstable, feature = "tracing"))]
    {
        let scope = match scope_name {
            Some(name) => name.to_owned(),
            None => format!("scope-{scope}"),
        };
        match &meta.name {
            Some(name) => format!("{scope}/{name}"),
            None => format!("{scope}/task-{}", meta.id),
        }
    }
}

/// A task failed; `fails_scope` says whether the failure fails its scope.
/// Called while the task's span is entered.
pub(crate) fn task_failed(
    scope: ScopeId,
    scope_name: Option<&str>,
    failure: &TaskFailure,
    fails_scope: bool,
) {
    // Complete on its own: the task's span (inside which it is emitted when
    // a subscriber wanted that span) may be filtered out while WARN is not.
    #[cfg(feature = "tracing")]
    tracing::warn!(
        scope.id = scope.as_u64(),
        scope.name = scope_name,
        task.id = failure.task().as_u64(),
        task.kind = %failure.kind(),
        task.name = failure.name(),
        task.location = %failure.location(),
        error = %failure.error(),
        fails_scope,
        "task failed"
    );
    if debug() {
        let task = TaskLabel(failure.kind(), failure.task(), failure.name());
        let what = if fails_scope {
            "fails the scope"
        } else {
            "recorded"
        };
        line(format_args!(
            "{}: {} failed ({what}): {}",
            ScopeLabel(scope, scope_name),
            task,
            failure.error()
        ));
    }
}

/// The error handler of scope `handler_scope` was called with `failure`.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn handler_called(
    handler_scope: ScopeId,
    handler_span: &ScopeSpan,
    failure: &TaskFailure,
    panicked: bool,
) {
    #[cfg(feature = "tracing")]
    if panicked {
        tracing::error!(
            parent: &handler_span.span,
            task.id = failure.task().as_u64(),
            "error handler panicked; removed, the next one up takes over"
        );
    } else {
        tracing::debug!(
            parent: &handler_span.span,
            task.id = failure.task().as_u64(),
            "error handler called"
        );
    }
    if debug() {
        let what = if panicked {
            "panicked and was removed"
        } else {
            "called"
        };
        line(format_args!(
            "scope {handler_scope}: error handler {what} for task {}",
            failure.task()
        ));
    }
}

/// A scope was cancelled (the first event that failed it), for `reason`.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn scope_cancelled(id: ScopeId, name: Option<&str>, span: &ScopeSpan, reason: &Reason) {
    #[cfg(feature = "tracing")]
    tracing::info!(parent: &span.span, reason = %reason, "scope cancelled");
    if debug() {
        line(format_args!("{} cancelled: {reason}", ScopeLabel(id, name)));
    }
}

/// A scope was shut down (`Scope::shutdown`): cancelled, without failing.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))] // the span is tracing's
pub(crate) fn scope_shutdown(id: ScopeId, name: Option<&str>, span: &ScopeSpan) {
    #[cfg(feature = "tracing")]
    tracing::info!(parent: &span.span, "scope shutting down");
    if debug() {
        line(format_args!("{} shutting down", ScopeLabel(id, name)));
    }
}

/// A task ended without completing: cancelled, or aborted. `meta` looks
/// its record up, only if someone listens.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn task_cancelled(
    scope: ScopeId,
    scope_name: Option<&str>,
    span: &ScopeSpan,
    meta: impl FnOnce() -> Option<TaskMeta>,
) {
    #[cfg(feature = "tracing")]
    let traced = tracing::enabled!(tracing::Level::DEBUG);
    #[cfg(not(feature = "tracing"))]
    let traced = false;
    if !traced && !debug() {
        return;
    }
    let Some(meta) = meta() else { return };
    #[cfg(feature = "tracing")]
    tracing::debug!(parent: &span.span, task.id = meta.id.as_u64(), "task cancelled");
    if debug() {
        line(format_args!(
            "{}: {} cancelled",
            ScopeLabel(scope, scope_name),
            TaskLabel::of(&meta)
        ));
    }
}

/// A scope's `run` returned: `None` when it succeeded, else why it failed.
/// `dropped` when its future was dropped before it ended.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn scope_ended(id: ScopeId, name: Option<&str>, span: &ScopeSpan, outcome: Outcome<'_>) {
    #[cfg(feature = "tracing")]
    match outcome {
        Outcome::Ok => tracing::debug!(parent: &span.span, "scope closed: ok"),
        Outcome::Failed(reason) => {
            tracing::info!(parent: &span.span, reason = %reason, "scope closed: failed");
        }
        Outcome::Panicked => tracing::info!(parent: &span.span, "scope closed: the body panicked"),
        Outcome::Dropped => {
            tracing::info!(parent: &span.span, "scope dropped: its tasks were aborted");
        }
    }
    if debug() {
        let label = ScopeLabel(id, name);
        match outcome {
            Outcome::Ok => line(format_args!("{label} closed: ok")),
            Outcome::Failed(reason) => line(format_args!("{label} closed: failed: {reason}")),
            Outcome::Panicked => line(format_args!("{label} closed: the body panicked")),
            Outcome::Dropped => line(format_args!(
                "{label} dropped before it ended: its tasks were aborted"
            )),
        }
    }
}

/// How a scope ended, for [`scope_ended`].
#[derive(Clone, Copy)]
pub(crate) enum Outcome<'a> {
    Ok,
    Failed(&'a Reason),
    Panicked,
    Dropped,
}
