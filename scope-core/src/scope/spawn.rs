//! Spawning: admitting a task, giving it a token of its own, building its
//! future, and handing it to Tokio (the scope's runtime, the current
//! `LocalSet`, or the blocking pool).

//!
//! Every task gets its own token, a child of its scope's signal (SPEC.md "a
//! task's token"): the scope's cancellation reaches it through the token
//! tree, while cancelling it (its handle, or the task itself) reaches no one
//! else. A task's future is one of two shapes:
//!
//! - [`plain`]: the user's closure, called on the first poll with the
//!   task's token: a scope with no concurrency limit and no grace period (the
//!   hot path; the task carries nothing else);
//! - [`Inner::guarded`]: first waits for a `max_concurrency` slot (never
//!   starting once cancelled), then runs the user's future within the grace
//!   rules (`with_grace`).
//!
//! Either is wrapped in a [`TaskFuture`] (its scope entered, its end counted)
//! and, if a subscriber wants one, its tracing span.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::futures::Notified;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::inner::Inner;
use super::task_future::TaskFuture;
use super::Scope;
use crate::error::{BoxError, TaskError};
use crate::handle::{GracedSignal, OwnSignal, TaskHandle, TaskResult};
use crate::ids::{TaskId, TaskMeta, TaskName};
use crate::limit::{Permit, Start};
use crate::observe::{self, ConsoleName, Traced};
use crate::policy::TaskKind;

/// How a task is to be spawned: its kind, name and spawn location, the
/// `max_concurrency` slot reserved for it, if any (`Scope::reserve`), and
/// whether it is an inline task (`inline.rs`).
pub(super) struct TaskOptions {
    pub(super) kind: TaskKind,
    pub(super) name: Option<TaskName>,
    pub(super) location: &'static Location<'static>,
    pub(super) slot: Option<Permit>,
    pub(super) inline: bool,
}

impl TaskOptions {
    #[track_caller]
    pub(super) fn new(kind: TaskKind, name: Option<TaskName>) -> Self {
        TaskOptions {
            kind,
            name,
            location: Location::caller(),
            slot: None,
            inline: false,
        }
    }
}

/// A task the scope accepted: counted in and recorded, its token made.
pub(super) struct Admitted {
    pub(super) meta: TaskMeta,
    /// The task's own token.
    pub(super) token: CancellationToken,
    /// A slot reserved for the task (`Scope::reserve`).
    pub(super) slot: Option<Permit>,
}

/// A task admitted by its scope, before its future is built.
struct Prepared {
    meta: TaskMeta,
    /// The task's own token.
    token: CancellationToken,
    /// The same token, shared with the handle, when the scope has a grace period.
    graced: Option<Arc<GracedSignal>>,
    /// A slot reserved for the task (`Scope::reserve`).
    slot: Option<Permit>,
    /// How the task's handle cancels it: the same token again.
    own: OwnSignal,
}

/// A task's output as the engine sees it: `Ok(value)` or a failure.
pub(super) trait TaskOutput {
    type Value;
    fn into_task(self) -> Result<Self::Value, TaskError>;
}

impl<T, E: Into<BoxError>> TaskOutput for Result<T, E> {
    type Value = T;
    fn into_task(self) -> Result<T, TaskError> {
        self.map_err(|error| TaskError::Failed(Arc::from(error.into())))
    }
}

/// The body of `Inner::spawn` and `Inner::spawn_local`, which differ only in
/// their bounds (`Send` or not) and spawner: admit the task, then launch its
/// plain or guarded future. A macro, as the two futures' types are opaque
/// and cannot be named in one generic helper's bounds.
macro_rules! spawn_task {
    ($inner:expr, $options:expr, $task:expr, $spawner:expr) => {{
        let Prepared {
            meta,
            token,
            graced,
            slot,
            own,
        } = match $inner.prepare($options) {
            Ok(prepared) => prepared,
            Err(id) => return TaskHandle::refused(id),
        };
        let id = meta.id;
        let join = if $inner.slots.is_none() && graced.is_none() {
            $inner.launch(meta, plain($task, token), $spawner)
        } else {
            let fut = $inner.guarded(id, token, graced, slot, $task);
            $inner.launch(meta, fut, $spawner)
        };
        TaskHandle::spawned(id, join, own)
    }};
}

/// No grace signal, for `Inner::guarded`: a blocking task cannot be aborted.
const UNGRACED: Option<Arc<GracedSignal>> = None;

impl Inner {
    /// Counts a new task in, records it and makes its token, or `Err` with
    /// an id for its handle when the scope refuses spawns (cancelled or ended).
    pub(super) fn admit_task(&self, mut options: TaskOptions) -> Result<Admitted, TaskId> {
        // Made first: a signal cancelled by hand (`signal().cancel()`) shows
        // in its new child, and the scope is failed now, before its run loop
        // has noticed, so no spawn slips in.
        let token = self.token.child_token();
        if self.signal_handed_out() && token.is_cancelled() {
            self.signal_cancelled();
            return Err(TaskId::next());
        }
        let Some(id) = self.count_in(
            options.kind,
            options.name.as_ref(),
            options.location,
            options.inline,
        ) else {
            return Err(TaskId::next());
        };
        let meta = TaskMeta {
            id,
            kind: options.kind,
            location: options.location,
            name: options.name.take(),
            inline: options.inline,
        };
        Ok(Admitted {
            meta,
            token,
            slot: options.slot.take(),
        })
    }

    /// Admits a task to be spawned onto Tokio, and settles how its handle
    /// cancels it: with its token shared for the grace rules if the scope
    /// has a grace period.
    fn prepare(&self, options: TaskOptions) -> Result<Prepared, TaskId> {
        let Admitted { meta, token, slot } = self.admit_task(options)?;
        let graced = (!self.grace.is_zero()).then(|| Arc::new(GracedSignal::new(token.clone())));
        let own = match &graced {
            Some(graced) => OwnSignal::Graced(graced.clone()),
            None => OwnSignal::Abort(token.clone()),
        };
        Ok(Prepared {
            meta,
            token,
            graced,
            slot,
            own,
        })
    }

    /// The future of a task of a scope with a concurrency limit or a grace
    /// period: it waits for its slot, then runs `task` within the grace rules
    /// if it has a `graced` signal (`UNGRACED` for one that cannot be aborted).
    ///
    /// Generic over the future only (its output's types are projections), so
    /// that the returned future does not capture `E`, which is not `'static`.
    pub(super) fn guarded<F, Fut, G>(
        self: &Arc<Self>,
        id: TaskId,
        token: CancellationToken,
        graced: Option<G>,
        slot: Option<Permit>,
        task: F,
    ) -> impl Future<Output = Result<<Fut::Output as TaskOutput>::Value, TaskError>>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future,
        Fut::Output: TaskOutput,
        G: AsRef<GracedSignal>,
    {
        let start = match slot {
            Some(reserved) => Some(Start::Now(reserved)),
            None => self.slots.as_ref().map(|slots| slots.start(Some(id))),
        };
        let scope = self.clone();
        async move {
            let _permit = match start {
                None => None,
                Some(Start::Now(permit)) => Some(permit),
                Some(Start::Wait(waiting)) => {
                    // A task waiting for its turn never starts once cancelled.
                    tokio::select! {
                        biased;
                        () = token.cancelled() => return Err(TaskError::Cancelled),
                        permit = waiting.acquired() => match permit {
                            Some(permit) if !token.is_cancelled() => Some(permit),
                            _ => return Err(TaskError::Cancelled),
                        },
                    }
                }
            };
            // Aborted before it started: its grace period (from its handle's
            // cancellation, or its scope's) is already over, as for an
            // inline task cancelled by its handle before its first poll with
            // no grace period. Its closure is never called, as a spawned
            // task's is not once Tokio has aborted it (bug M).
            if scope.grace_over(graced.as_ref().map(AsRef::as_ref)) {
                return Err(TaskError::Cancelled);
            }
            let user = task(token);
            match graced {
                None => user.await.into_task(),
                Some(graced) => scope.with_grace(graced.as_ref(), user).await,
            }
        }
    }

    /// Whether a task must stop now, checked against the clock (not only by
    /// timers: a task that blocked its thread past a deadline stops at its
    /// next `.await` all the same, bug F in docs/RELIABILITY.md): the grace
    /// period of its scope's cancellation is over, or that of its handle's
    /// (`own`, when the task runs within the grace rules).
    fn grace_over(&self, own: Option<&GracedSignal>) -> bool {
        let now = Instant::now();
        let handle_over = own
            .and_then(|own| own.at.get())
            .is_some_and(|at| *at + self.grace <= now);
        handle_over || self.grace_deadline().is_some_and(|end| end <= now)
    }

    /// Polls a task's future until it ends, or until a grace period has
    /// passed: the scope's, from its cancellation (`grace_deadline`), or the
    /// task's own, from its handle's `cancel`. Then it yields `Cancelled` (the
    /// future is dropped, so the task is aborted at that `.await`).
    ///
    /// Both deadlines are checked against the clock at every poll, not only
    /// by a timer: a task that blocked its thread past one (no timer can fire
    /// while its worker is blocked) is stopped at its next `.await` all the
    /// same (bug F in docs/RELIABILITY.md). The scope's own timer is its run
    /// loop's, which aborts every task at the same instant.
    async fn with_grace<Fut>(
        &self,
        own: &GracedSignal,
        user: Fut,
    ) -> Result<<Fut::Output as TaskOutput>::Value, TaskError>
    where
        Fut: Future,
        Fut::Output: TaskOutput,
    {
        // In an `Option`, so that an abort drops it here (see `aborted`).
        let mut user = pin!(Some(user));
        // Made only once the user's future is pending (most tasks of a fan-out
        // end on their first poll): `cancel` sets `at` before it notifies, so
        // a cancel before this poll shows in `at`, and one after the user's
        // poll leaves the permit this waiter takes.
        let mut handle_cancelled = pin!(None::<Notified<'_>>);
        let mut deadline = pin!(None::<Sleep>);
        poll_fn(|cx| {
            if self.grace_over(Some(own)) {
                return Poll::Ready(aborted(user.as_mut()));
            }
            // Woken when the handle's grace period ends (the scope's own
            // deadline is the run loop's timer, which aborts every task).
            if deadline.is_none() {
                if let Some(at) = own.at.get() {
                    deadline.set(Some(sleep_until(*at + self.grace)));
                }
            }
            if let Some(timer) = deadline.as_mut().as_pin_mut() {
                if timer.poll(cx).is_ready() {
                    return Poll::Ready(aborted(user.as_mut()));
                }
            }
            let Some(fut) = user.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(TaskError::Cancelled));
            };
            let polled = fut.poll(cx).map(TaskOutput::into_task);
            if polled.is_ready() || deadline.is_some() {
                return polled;
            }
            if handle_cancelled.is_none() {
                handle_cancelled.set(Some(own.cancelled.notified()));
            }
            if let Some(notified) = handle_cancelled.as_mut().as_pin_mut() {
                if notified.poll(cx).is_ready() {
                    // Cancelled by its handle during this poll: the next
                    // one finds `at` and starts the task's grace period.
                    cx.waker().wake_by_ref();
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Wraps a task's future (its scope entered, its end counted, its span
    /// if a subscriber wants one), spawns it with `spawner`, and keeps its
    /// abort handle.
    #[track_caller]
    fn launch<Fut, T, S>(self: &Arc<Self>, meta: TaskMeta, fut: Fut, spawner: S) -> TaskJoin<T>
    where
        S: Spawner<TaskFuture<Fut>> + Spawner<Traced<TaskFuture<Fut>>>,
        TaskFuture<Fut>: Future<Output = TaskResult<T>>,
    {
        let (span, panic) = self.report_spawned(&meta);
        #[allow(clippy::let_unit_value)] // `()` unless built for tokio-console
        let name = observe::console_name(self.id, self.name.as_deref(), &meta);
        let scope = Scope {
            inner: self.clone(),
        };
        let fut = TaskFuture::new(scope, meta.id, fut);
        let join = match span {
            None => spawner.spawn(fut, name),
            Some(span) => spawner.spawn(observe::traced(fut, span), name),
        };
        match join {
            Ok(join) => {
                self.register(meta.id, join.abort_handle());
                observe::resume(panic);
                join
            }
            Err(needs) => {
                // The future was dropped, which counted the task out.
                self.forget(meta.id);
                panic!("{needs}")
            }
        }
    }

    /// Reports a new task (to tracing and `ASYNC_SCOPE_DEBUG`): its span, if
    /// a subscriber wants one. Should the subscriber panic, the task is still
    /// started and counted (without a span): the panic comes back, for the
    /// caller to resume once the task is in place (`observe::resume`).
    pub(super) fn report_spawned(
        &self,
        meta: &TaskMeta,
    ) -> (Option<observe::TaskSpan>, Option<observe::Panic>) {
        match observe::shielded_with(|| {
            observe::task_spawned(self.id, self.name.as_deref(), &self.span, meta)
        }) {
            Ok(span) => (span, None),
            Err(panic) => (None, Some(panic)),
        }
    }

    /// Spawns a `Send` task onto the scope's runtime.
    #[track_caller]
    pub(super) fn spawn<F, Fut, T, E>(
        self: &Arc<Self>,
        options: TaskOptions,
        task: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        spawn_task!(self, options, task, OnRuntime(&self.runtime))
    }

    /// Spawns a blocking closure onto the runtime's blocking pool, as a task
    /// of the scope in every other respect: counted, reported, joined. Tokio
    /// cannot abort it once it runs: its scope waits for it.
    #[track_caller]
    pub(super) fn spawn_blocking<F, T, E>(
        self: &Arc<Self>,
        options: TaskOptions,
        task: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let Prepared {
            meta,
            token,
            slot,
            own,
            ..
        } = match self.prepare(options) {
            Ok(prepared) => prepared,
            Err(id) => return TaskHandle::refused(id),
        };
        let id = meta.id;
        let spawner = OnBlockingPool(&self.runtime);
        let join = if self.slots.is_none() {
            self.launch(meta, async move { task(token).into_task() }, spawner)
        } else {
            // Waits for its slot on its blocking thread (never starting once
            // cancelled), then calls `task` there. No grace: it cannot be
            // aborted anyway.
            // (Its error boxed at once, so that the future holds no `E`, which need not be `Send`.)
            let blocking =
                move |token| std::future::ready(task(token).map_err(Into::<BoxError>::into));
            let fut = self.guarded(id, token, UNGRACED, slot, blocking);
            self.launch(meta, fut, spawner)
        };
        TaskHandle::spawned(id, join, own)
    }

    /// Spawns a `!Send` task onto the current `LocalSet`.
    #[track_caller]
    pub(super) fn spawn_local<F, Fut, T, E>(
        self: &Arc<Self>,
        options: TaskOptions,
        task: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        spawn_task!(self, options, task, OnLocalSet)
    }
}

/// A task aborted at the end of its grace period: its future is dropped
/// here, where a panic of its destructors is contained, as Tokio contains one
/// when it aborts a task. The task was cancelled, which is not a failure.
fn aborted<F, V>(user: Pin<&mut Option<F>>) -> Result<V, TaskError> {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut user = user;
        user.set(None);
    }));
    Err(TaskError::Cancelled)
}

/// A task's `JoinHandle`.
type TaskJoin<T> = JoinHandle<TaskResult<T>>;

/// The future of a task of a scope with no concurrency limit and no grace
/// period: the user's closure, called on the first poll with the task's token.
///
/// Generic over the future only, like [`Inner::guarded`], so that the
/// returned future does not capture the error type.
async fn plain<F, Fut>(
    task: F,
    token: CancellationToken,
) -> Result<<Fut::Output as TaskOutput>::Value, TaskError>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future,
    Fut::Output: TaskOutput,
{
    task(token).await.into_task()
}

/// Where a task is spawned: the scope's runtime, the blocking pool, or the
/// current `LocalSet`. `Err` with what is missing if it cannot be (the
/// future is dropped).
///
/// Built with `--cfg tokio_unstable` (and the `tracing` feature), every
/// spawner goes through Tokio's task builder, so that the task shows in
/// tokio-console under its [`ConsoleName`]; otherwise through the plain
/// functions, and the name is `()`.
trait Spawner<F: Future> {
    fn spawn(self, fut: F, name: ConsoleName) -> Result<JoinHandle<F::Output>, &'static str>;
}

/// What Tokio's task builder says when it cannot spawn (it never does today).
#[cfg(all(tokio_unstable, feature = "tracing"))]
const BUILDER_FAILED: &str = "Tokio's task builder could not spawn the task";

/// Spawns onto a runtime.
struct OnRuntime<'a>(&'a tokio::runtime::Handle);

impl<F> Spawner<F> for OnRuntime<'_>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg_attr(not(all(tokio_unstable, feature = "tracing")), allow(unused_variables))]
    fn spawn(self, fut: F, name: ConsoleName) -> Result<JoinHandle<F::Output>, &'static str> {
        #[cfg(all(tokio_unstable, feature = "tracing"))]
        return tokio::task::Builder::new()
            .name(&name)
            .spawn_on(fut, self.0)
            .map_err(|_| BUILDER_FAILED);
        #[cfg(not(all(tokio_unstable, feature = "tracing")))]
        Ok(self.0.spawn(fut))
    }
}

/// Spawns onto the runtime's blocking pool: the task's future (which
/// completes on its first poll, calling the user's closure) is run to its end
/// on a blocking thread.
struct OnBlockingPool<'a>(&'a tokio::runtime::Handle);

impl<F> Spawner<F> for OnBlockingPool<'_>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg_attr(not(all(tokio_unstable, feature = "tracing")), allow(unused_variables))]
    fn spawn(self, fut: F, name: ConsoleName) -> Result<JoinHandle<F::Output>, &'static str> {
        let run = move || block_on(fut);
        #[cfg(all(tokio_unstable, feature = "tracing"))]
        return tokio::task::Builder::new()
            .name(&name)
            .spawn_blocking_on(run, self.0)
            .map_err(|_| BUILDER_FAILED);
        #[cfg(not(all(tokio_unstable, feature = "tracing")))]
        Ok(self.0.spawn_blocking(run))
    }
}

/// Runs a future to its end on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    /// Wakes the parked thread.
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Spawns onto the current `LocalSet`.
struct OnLocalSet;

impl<F> Spawner<F> for OnLocalSet
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[cfg_attr(not(all(tokio_unstable, feature = "tracing")), allow(unused_variables))]
    fn spawn(self, fut: F, name: ConsoleName) -> Result<JoinHandle<F::Output>, &'static str> {
        // Tokio panics outside a `LocalSet` (after dropping the future);
        // `launch` panics with this message, at the caller's location.
        let spawned = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(all(tokio_unstable, feature = "tracing"))]
            return tokio::task::Builder::new().name(&name).spawn_local(fut);
            #[cfg(not(all(tokio_unstable, feature = "tracing")))]
            Ok::<_, std::convert::Infallible>(tokio::task::spawn_local(fut))
        }));
        let needs = "Scope::spawn_local needs a `tokio::task::LocalSet`: run the scope \
                     inside `LocalSet::run_until` or `LocalSet::block_on`";
        match spawned {
            Ok(Ok(join)) => Ok(join),
            #[cfg(all(tokio_unstable, feature = "tracing"))]
            Ok(Err(_)) => Err(BUILDER_FAILED),
            #[cfg(not(all(tokio_unstable, feature = "tracing")))]
            Ok(Err(never)) => match never {},
            Err(_) => Err(needs),
        }
    }
}
