//! [`Scope`], the front door, and [`ScopeBuilder`]; the scope's private state
//! (`Inner`) with the one place each rule lives:
//!
//! - admission (`Inner::admit`): a scope that was cancelled or has ended
//!   refuses spawns; the closure is never called.
//! - failure reporting (`Inner::report`): records the failure, asks
//!   [`decide`](crate::engine::decide) what it means, then fails the scope or
//!   hands the failure to the nearest error handler (`Inner::dispatch`).
//! - cancellation (`Inner::fail`, `Inner::abort_all`): the first reason wins;
//!   the token is cancelled at once; tasks are aborted after the grace period.
//! - nesting: a scope started while another is [`Scope::current`] is its child:
//!   the parent keeps a weak link to it (`State::children`, until the nested
//!   scope ends: `leave_parent`) and cancels it when it is cancelled itself
//!   (`fail_locked`, `kill`; cancellation flows down), and its error handlers
//!   fall back to the parent's (failures do not flow up). A nested scope killed while its aborted tasks are still being
//!   dropped counts as a live task of its parent until they are gone (`kill`).
//! - the run loop (`ScopeBuilder::run`): polls the body inline, watches the
//!   token, the timeout and the grace timer, then waits for the last task,
//!   which wakes it through `State::run_waker`.
//! - observability: every lifecycle event goes through `observe`; tasks'
//!   records (`TaskRecord`) and nested scopes feed [`Scope::snapshot`].
//!
//! All mutable state sits behind one mutex per scope (`State`), taken three
//! times per task (admit and register on the spawning thread, and at its
//! end), like `JoinSet`'s own lock; it is never held while user code runs.
//! Tasks are aborted while it is held, so that whoever sees `Inner::aborted`
//! under it also sees every task aborted (see docs/RELIABILITY.md, bug E);
//! a task's poll checks the flag without it (bug I). The lock order is
//! `State` → token, and a nested scope's `State` → its parent's.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{sleep, sleep_until, Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::engine::{decide, Action};
use crate::error::{BoxError, Reason, ScopeError, TaskError, TaskFailure};
use crate::limit::{Slots, Start};
use crate::observe::{self, ScopeSpan, Traced};
use crate::policy::{Policy, TaskKind};
use crate::snapshot::{ScopeSnapshot, ScopeState, TaskSnapshot, TaskState};
use crate::task::{
    Entered, OptionalHandle, OwnSignal, TaskFuture, TaskHandle, TaskId, TaskMeta, TaskResult,
};
use crate::task_builder::TaskBuilder;

thread_local! {
    /// The scope whose body or task is being polled on this thread.
    pub(crate) static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `body` in a new scope with the default options (policy [`Cancel`](Policy::Cancel)).
///
/// Same as `Scope::builder().run(body)`; see [`ScopeBuilder::run`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::with_scope;
///
/// let total = with_scope(|scope| async move {
///     let a = scope.spawn(|_| async { Ok::<_, std::io::Error>(1) });
///     let b = scope.spawn(|_| async { Ok::<_, std::io::Error>(2) });
///     Ok::<_, async_scope::TaskError>(a.await? + b.await?)
/// })
/// .await
/// .unwrap();
/// assert_eq!(total, 3);
/// # }
/// ```
///
/// # Panics
///
/// Panics if polled outside a Tokio runtime, and re-raises a panic of the body
/// after the scope's tasks have been cancelled and joined.
///
/// # Cancel safety
///
/// Dropping the future aborts every task of the scope at once (none is polled
/// again), so nothing keeps running in the background; the result is lost.
pub async fn with_scope<F, Fut, T, E>(body: F) -> Result<T, ScopeError>
where
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    ScopeBuilder::default().run(body).await
}

/// A cheap, cloneable handle to a running scope: spawns tasks into it,
/// cancels it, and reads its failures.
///
/// The scope itself lives as long as the future of [`with_scope`] or
/// [`ScopeBuilder::run`]; a handle kept after that refuses new spawns.
///
/// # Comparison to `JoinSet` and `TaskTracker`
///
/// A `JoinSet` owns tasks and aborts them on drop, but a failure of one does
/// not stop the others, a `JoinSet` is `&mut` to spawn into and nesting is by
/// hand. A `TaskTracker` waits for tasks but does not cancel them. A `Scope`
/// is shared (`&self` spawns, from any task), applies a failure policy as
/// tasks end, hands each task a [`CancellationToken`] that its scope and every
/// ancestor cancel, and never ends before its tasks.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::with_scope;
///
/// let err = with_scope(|scope| async move {
///     let slow = scope.spawn(|signal| async move {
///         signal.cancelled().await; // a failing sibling cancels us
///         Ok::<_, std::io::Error>(())
///     });
///     scope.spawn(|_| async { Err::<(), _>("lost connection") });
///     let _ = slow.await;
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap_err();
/// assert!(err.to_string().ends_with("failed: lost connection"));
/// # }
/// ```
#[derive(Clone)]
pub struct Scope {
    pub(crate) inner: Arc<Inner>,
}

/// A scope's id, unique in the process; shown in snapshots, tracing and
/// `ASYNC_SCOPE_DEBUG` lines. Ids grow in the order scopes are opened.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|outer| async move {
///     async_scope::with_scope(|inner| async move {
///         assert!(outer.id() < inner.id());
///         assert_eq!(inner.id().to_string(), inner.id().as_u64().to_string());
///         Ok::<_, std::io::Error>(())
///     })
///     .await
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(u64);

impl ScopeId {
    fn next() -> ScopeId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ScopeId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Returns the id as a number.
    ///
    /// # Examples
    ///
    /// See [`ScopeId`].
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Options for a scope, then [`run`](ScopeBuilder::run).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use async_scope::{Policy, Reason, Scope};
///
/// let err = Scope::builder()
///     .name("crawl")
///     .policy(Policy::Supervise)
///     .timeout(Duration::from_secs(5))
///     .grace(Duration::from_millis(100))
///     .max_concurrency(8)
///     .on_error(|failure| eprintln!("ignored: {failure}"))
///     .run(|scope| async move {
///         scope.spawn(|_| std::future::pending::<Result<(), std::io::Error>>());
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .unwrap_err();
/// assert!(matches!(err.reason(), Reason::TimedOut));
/// # }
/// ```
#[derive(Default)]
pub struct ScopeBuilder {
    policy: Policy,
    name: Option<Arc<str>>,
    timeout: Option<Duration>,
    grace: Duration,
    max_concurrency: Option<usize>,
    handler: Option<Handler>,
}

type HandlerFn = dyn Fn(&TaskFailure) + Send + Sync + 'static;

/// An error handler and whether it is still in service.
struct Handler {
    f: Box<HandlerFn>,
    /// Set when the handler panicked: it is skipped from then on.
    removed: AtomicBool,
}

/// The state every handle of one scope shares.
pub(crate) struct Inner {
    id: ScopeId,
    name: Option<Arc<str>>,
    policy: Policy,
    grace: Duration,
    /// Cancelled when the scope is cancelled. Not a child of the parent's
    /// token: an ancestor's cancellation arrives through `State::children`.
    token: CancellationToken,
    /// When the scope was cancelled: the grace period runs from here.
    cancelled_at: OnceLock<Instant>,
    /// Every task has been aborted (`abort_all`): a task registered later is
    /// aborted at once, and a task polled later stops before its future is
    /// polled. Written under the `State` lock.
    aborted: AtomicBool,
    /// The enclosing scope, for error handlers. Parents never point to children.
    parent: Option<Arc<Inner>>,
    handler: Option<Handler>,
    slots: Option<Arc<Slots>>,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    /// Notified when `State::live` drops to zero, if `wait_for_completion`
    /// waits (the run loop is woken through `State::run_waker`).
    all_done: Notify,
    /// The Tokio task the scope was opened in: a snapshot draws the scope
    /// under its parent's task that runs it.
    opened_in: Option<tokio::task::Id>,
    /// Set when the body has returned: the scope waits for its last tasks.
    body_ended: AtomicBool,
    /// Set when the scope's `run` has returned or its future was dropped:
    /// snapshots leave it out from then on.
    ended: AtomicBool,
    /// When the scope was opened (Tokio's clock), for snapshots.
    opened: Instant,
    /// The scope's tracing span; see `observe`.
    pub(crate) span: ScopeSpan,
}

struct State {
    /// Tasks spawned and not yet counted out: a task is counted out from its
    /// last poll once its future has returned (the user's future is dropped
    /// by then), or from its drop if it never completes.
    live: usize,
    /// No more spawns: the scope was cancelled, failed, or ended.
    closed: bool,
    /// Records of the tasks, in id order (ids are taken under this lock),
    /// finished ones pruned lazily (see `admit`).
    tasks: Vec<TaskRecord>,
    /// Names of the named tasks in `tasks`, in id order.
    names: Vec<(TaskId, Arc<str>)>,
    /// Tasks that returned `Ok`.
    done: usize,
    /// Tasks that ended cancelled or aborted.
    cancelled: usize,
    /// `tasks` is pruned when it reaches this length.
    prune_at: usize,
    /// The run loop's waker, once its body has ended and it waits for the last task.
    run_waker: Option<Waker>,
    /// How many `wait_for_completion` calls wait on `all_done`.
    completion_waiters: usize,
    /// Nested scopes that have not ended: each leaves when its `run`
    /// returns or its future is dropped (`leave_parent`).
    children: Vec<Weak<Inner>>,
    /// This scope was killed (its future dropped) before its last task was
    /// gone, and holds a live count on its parent until then (see `kill`).
    holds_parent: bool,
    /// Every failure, in order.
    failures: Vec<TaskFailure>,
    /// The first event that failed the scope.
    reason: Option<Reason>,
}

const MIN_PRUNE: usize = 64;

impl State {
    /// Drops the records of finished tasks, so that `tasks` stays within
    /// twice the number of live tasks.
    fn prune(&mut self) {
        // A record without its abort handle yet is of a task being spawned.
        self.tasks
            .retain(|r| r.abort.as_ref().map_or(true, |t| !t.is_finished()));
        let tasks = &self.tasks;
        self.names
            .retain(|(id, _)| tasks.binary_search_by_key(id, |r| r.id).is_ok());
        self.prune_at = (self.tasks.len() * 2).max(MIN_PRUNE);
    }

    /// Where task `id`'s record is (`tasks` is in id order).
    fn find(&self, id: TaskId) -> Result<usize, usize> {
        self.tasks.binary_search_by_key(&id, |r| r.id)
    }

    fn name(&self, id: TaskId) -> Option<Arc<str>> {
        let at = self.names.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        Some(self.names[at].1.clone())
    }

    fn meta(&self, id: TaskId) -> Option<TaskMeta> {
        let record = &self.tasks[self.find(id).ok()?];
        Some(TaskMeta {
            id,
            kind: record.kind,
            location: record.location,
            name: self.name(id),
        })
    }
}

// === impl Inner ===

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock, so poison can only come from a
        // panic in our own bookkeeping; the state is still consistent then.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new task in and records it, or `None` if the scope refuses
    /// spawns. The record's abort handle comes with `register`.
    fn admit(&self, options: &TaskOptions) -> Option<TaskId> {
        let spawned = self.since_opened(Instant::now());
        // `closed` covers cancellation from above too: an ancestor's `fail`
        // fails its nested scopes (see `fail_locked`), so no token lock here.
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.live += 1;
        if state.tasks.len() >= state.prune_at {
            state.prune();
        }
        // Taken under the lock, so that `tasks` stays in id order.
        let id = TaskId::next();
        state.tasks.push(TaskRecord {
            id,
            abort: None,
            location: options.location,
            spawned,
            kind: options.kind,
        });
        if let Some(name) = &options.name {
            state.names.push((id, name.clone()));
        }
        Some(id)
    }

    /// Keeps a spawned task's abort handle in its record; a task registered
    /// after `abort_all` is aborted at once.
    fn register(&self, id: TaskId, task: AbortHandle) {
        let mut state = self.lock();
        if self.aborted.load(Ordering::Relaxed) {
            task.abort();
        }
        // The record was pushed moments ago, by `admit`: found from the end.
        if let Some(record) = state.tasks.iter_mut().rev().find(|r| r.id == id) {
            record.abort = Some(task);
        }
    }

    /// Drops the record of a task that could not be spawned (its future was
    /// dropped, which counted it out).
    fn forget(&self, id: TaskId) {
        let mut state = self.lock();
        if let Ok(at) = state.find(id) {
            state.tasks.remove(at);
        }
    }

    /// How long after the scope opened `at` is, in nanoseconds (a record's
    /// spawn time, in 8 bytes rather than an `Instant`'s 16).
    fn since_opened(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.opened).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The task's kind, name and location, from its record.
    fn meta(&self, id: TaskId) -> Option<TaskMeta> {
        self.lock().meta(id)
    }

    /// Called when a task's future completed with a failure (before `task_ended`).
    pub(crate) fn task_failed(&self, id: TaskId, error: TaskError) {
        // A task reports from its last poll, before Tokio marks it finished:
        // its record cannot have been pruned.
        let meta = self.meta(id);
        debug_assert!(meta.is_some(), "task {id} reported without a record");
        let meta = meta.unwrap_or(TaskMeta {
            id,
            kind: TaskKind::Normal,
            location: Location::caller(),
            name: None,
        });
        self.report(TaskFailure::new(&meta, error));
    }

    /// Whether the scope's tasks must stop now: checked by each task before
    /// its future is polled (see `abort_all`).
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Called when a task's future completed, or was dropped before it did
    /// (`Cancelled`), with how it ended. The task wakes the run loop with
    /// the returned [`Ended`] once it has let go of its `Scope`.
    pub(crate) fn task_ended(&self, id: TaskId, ended: TaskState) -> Ended {
        // Should the subscriber panic, the task is still counted out, and
        // the panic goes on from `Ended::wake`.
        let panic = (ended == TaskState::Cancelled)
            .then(|| {
                observe::shielded(|| {
                    observe::task_cancelled(self.id, self.name.as_deref(), &self.span, || {
                        self.meta(id)
                    });
                })
            })
            .flatten();
        let mut state = self.lock();
        match ended {
            TaskState::Done => state.done += 1,
            TaskState::Cancelled => state.cancelled += 1,
            _ => {}
        }
        Ended {
            run_waker: self.count_out(state),
            panic,
        }
    }

    /// Counts one live task (or a killed nested scope's lease, see `kill`)
    /// out; the last one wakes any `wait_for_completion`, gives back this
    /// scope's own lease on its parent, and returns the run loop's waker.
    fn count_out(&self, mut state: MutexGuard<'_, State>) -> Option<Waker> {
        state.live -= 1;
        if state.live > 0 {
            return None;
        }
        let release = std::mem::take(&mut state.holds_parent);
        let run_waker = state.run_waker.take();
        let completion_waiters = state.completion_waiters > 0;
        drop(state);
        if completion_waiters {
            self.all_done.notify_waiters();
        }
        if release {
            if let Some(parent) = &self.parent {
                if let Some(waker) = parent.count_out(parent.lock()) {
                    waker.wake();
                }
            }
        }
        run_waker
    }

    /// The one place a task failure is handled.
    pub(crate) fn report(&self, failure: TaskFailure) {
        let action = decide(self.policy, failure.kind());
        // Should the subscriber panic, the failure is still recorded and
        // acted on, then its panic goes on.
        let panic = observe::shielded(|| {
            observe::task_failed(
                self.id,
                self.name.as_deref(),
                &failure,
                action != Action::Report,
            );
        });
        self.record(failure, action);
        observe::resume(panic);
    }

    /// Records a failure and does what `decide` said.
    fn record(&self, failure: TaskFailure, action: Action) {
        let mut state = self.lock();
        // Recording the failure and naming the reason happen under one lock,
        // so the reason is always the first failure in `failures()`.
        state.failures.push(failure.clone());
        match action {
            Action::FailScope => self.fail_locked(state, Reason::TaskFailed(failure)),
            Action::FailScopeCritical => {
                self.fail_locked(state, Reason::CriticalTaskFailed(failure));
            }
            Action::Report => {
                drop(state);
                self.dispatch(&failure);
            }
        }
    }

    /// Hands a failure that does not fail the scope to the nearest error
    /// handler; a handler that panics is removed and the next one up takes over.
    fn dispatch(&self, failure: &TaskFailure) {
        let mut scope = Some(self);
        while let Some(inner) = scope {
            if let Some(handler) = &inner.handler {
                if !handler.removed.load(Ordering::Acquire) {
                    let called = catch_unwind(AssertUnwindSafe(|| (handler.f)(failure)));
                    observe::handler_called(inner.id, &inner.span, failure, called.is_err());
                    if called.is_ok() {
                        return;
                    }
                    handler.removed.store(true, Ordering::Release);
                }
            }
            scope = inner.parent.as_deref();
        }
    }

    /// Fails the scope (the first reason wins) and cancels it.
    fn fail(&self, reason: Reason) {
        self.fail_locked(self.lock(), reason);
    }

    /// [`fail`](Self::fail), with the state already locked.
    fn fail_locked(&self, mut state: MutexGuard<'_, State>, reason: Reason) {
        let first = state.reason.is_none().then(|| {
            // A scope already cancelled from above was cancelled first.
            let reason = if self.token.is_cancelled() {
                Reason::Cancelled
            } else {
                reason
            };
            state.reason = Some(reason.clone());
            reason
        });
        state.closed = true;
        let children = state.children.clone();
        drop(state);
        // Reported after the unlock: a subscriber is user code.
        if let Some(reason) = &first {
            observe::scope_cancelled(self.id, self.name.as_deref(), &self.span, reason);
        }
        self.cancelled_at.get_or_init(Instant::now);
        self.token.cancel();
        if self.grace.is_zero() {
            self.abort_all();
        }
        // Cancellation flows down at once, not when each nested scope's run
        // loop is next polled: nested scopes close and, without a grace
        // period, abort their tasks now.
        for child in children.iter().filter_map(Weak::upgrade) {
            child.fail(Reason::Cancelled);
        }
    }

    /// Aborts every task at its next `.await`; later registrations are aborted at once.
    ///
    /// A task spawned but not registered yet (its spawner is between
    /// `launch`'s spawn and `register`) may already run on another worker:
    /// it sees `aborted` on its next poll and stops there (docs/RELIABILITY.md, bug I).
    fn abort_all(&self) {
        let mut state = self.lock();
        self.aborted.store(true, Ordering::Release);
        state.closed = true;
        // Aborted under the lock: whoever sees `aborted` set under the lock
        // (`register`, `adopt`) also sees every task aborted
        // (AbortHandle::abort only flags and schedules the task). A task's
        // poll reads the flag without the lock and may see it a moment
        // early, which only stops that task a moment early.
        // The records stay, for failures reported by aborted tasks whose last
        // poll was under way, and for snapshots.
        for task in state.tasks.iter().filter_map(|r| r.abort.as_ref()) {
            task.abort();
        }
    }

    /// Ends the scope at once, when its future is dropped: closes it and
    /// aborts its tasks and, at once too, those of every scope nested in it
    /// (a nested scope inside an aborted task would otherwise run until Tokio
    /// gets round to dropping that task).
    ///
    /// Aborted tasks are dropped later, by Tokio. Until the last one is gone
    /// the scope counts as one live task of its parent (`holds_parent`), so an
    /// enclosing scope whose task held this one does not end before them
    /// (bug B in docs/RELIABILITY.md). Nested scopes are killed first, so
    /// that the count they take on this scope is seen here.
    fn kill(&self) {
        // Signal first, as `fail_locked` does: a task that another worker
        // drops as soon as it is aborted must find its token cancelled.
        self.cancelled_at.get_or_init(Instant::now);
        self.token.cancel();
        self.abort_all();
        let children = std::mem::take(&mut self.lock().children);
        for child in children.iter().filter_map(Weak::upgrade) {
            child.kill();
        }
        let mut state = self.lock();
        if let Some(parent) = &self.parent {
            if state.live > 0 && !state.holds_parent {
                state.holds_parent = true;
                // Lock order: a nested scope's state, then its parent's.
                parent.lock().live += 1;
            }
        }
    }

    /// Takes an ended scope out of its parent's `children`: a parent's
    /// cancellation has nothing left to reach in it, and its memory goes back
    /// as soon as its last handle does (a dead `Weak` would keep it).
    fn leave_parent(&self) {
        let Some(parent) = &self.parent else {
            return;
        };
        let me: *const Inner = self;
        let mut state = parent.lock();
        // Scopes mostly end in the order they opened in: search from the end.
        if let Some(at) = state.children.iter().rposition(|c| c.as_ptr() == me) {
            state.children.remove(at);
        }
    }

    /// Reports how the scope ended.
    fn closed(&self, how: observe::Closed<'_>) {
        observe::scope_closed(self.id, self.name.as_deref(), &self.span, how);
    }

    /// Keeps a weak link to a nested scope, for [`kill`](Self::kill).
    ///
    /// Returns `true` if this scope was already cancelled: the nested scope
    /// must then start cancelled. Checked under the lock `fail` and `kill`
    /// take the list under, so a nested scope is either in the list they
    /// walk or sees the cancellation here.
    fn adopt(&self, child: &Arc<Inner>) -> bool {
        let mut state = self.lock();
        state.children.push(Arc::downgrade(child));
        state.reason.is_some() || self.aborted.load(Ordering::Relaxed) || self.token.is_cancelled()
    }

    /// The run loop's last wait: closes the scope once no task is left, or
    /// keeps the run loop's waker for the task that ends last.
    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.live == 0 {
            state.closed = true;
            return Poll::Ready(());
        }
        match &state.run_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.run_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until no task is left (`wait_for_completion`).
    async fn all_ended(&self) {
        /// Counts a waiter in `State::completion_waiters` while it waits.
        struct Waiter<'a>(&'a Inner);
        impl Drop for Waiter<'_> {
            fn drop(&mut self) {
                self.0.lock().completion_waiters -= 1;
            }
        }
        self.lock().completion_waiters += 1;
        let _waiter = Waiter(self);
        loop {
            let mut notified = pin!(self.all_done.notified());
            notified.as_mut().enable();
            if self.lock().live == 0 {
                return;
            }
            notified.await;
        }
    }

    fn reason(&self) -> Option<Reason> {
        let state = self.lock();
        state
            .reason
            .clone()
            .or_else(|| self.token.is_cancelled().then_some(Reason::Cancelled))
    }

    fn error(&self, reason: Reason) -> ScopeError {
        ScopeError::new(reason, self.lock().failures.clone(), self.name.clone())
    }

    /// The scope's snapshot at `now`, nested scopes included.
    fn snapshot(&self, now: Instant) -> ScopeSnapshot {
        let mut waiting = self.slots.as_ref().map(|s| s.waiting()).unwrap_or_default();
        waiting.sort_unstable();
        let state = self.lock();
        let mut runners = Vec::new();
        // A task that failed is reported from its last poll, before Tokio
        // marks it finished: list it once, as failed.
        let mut failed_ids: Vec<TaskId> = state.failures.iter().map(TaskFailure::task).collect();
        failed_ids.sort_unstable();
        let failed = |id: TaskId| failed_ids.binary_search(&id).is_ok();
        let mut tasks: Vec<TaskSnapshot> = state
            .tasks
            .iter()
            .filter(|record| {
                let finished = record.abort.as_ref().is_some_and(AbortHandle::is_finished);
                !finished && !failed(record.id)
            })
            .map(|record| {
                if let Some(abort) = &record.abort {
                    runners.push((abort.id(), record.id));
                }
                TaskSnapshot {
                    id: record.id,
                    name: state.name(record.id),
                    kind: record.kind,
                    state: if waiting.binary_search(&record.id).is_ok() {
                        TaskState::Waiting
                    } else {
                        TaskState::Running
                    },
                    location: record.location,
                    age: Some(Duration::from_nanos(
                        self.since_opened(now).saturating_sub(record.spawned),
                    )),
                    error: None,
                    scopes: Vec::new(),
                }
            })
            .collect();
        tasks.extend(state.failures.iter().map(|failure| TaskSnapshot {
            id: failure.task(),
            name: failure.name().map(Arc::from),
            kind: failure.kind(),
            state: TaskState::Failed,
            location: failure.location(),
            age: None,
            error: Some(failure.error().clone()),
            scopes: Vec::new(),
        }));
        tasks.sort_by_key(|task| task.id);
        let scope_state = if state.reason.is_some() || self.token.is_cancelled() {
            ScopeState::Cancelled
        } else if state.closed || self.body_ended.load(Ordering::Acquire) {
            ScopeState::Closing
        } else {
            ScopeState::Running
        };
        let reason = state.reason.clone();
        let (done, cancelled) = (state.done, state.cancelled);
        let children = state.children.clone();
        drop(state);
        // A nested scope goes under the task that runs it, if it is one of
        // ours; else (opened by the body) under the scope itself.
        let mut scopes = Vec::new();
        for child in children.iter().filter_map(Weak::upgrade) {
            if child.ended.load(Ordering::Acquire) {
                continue;
            }
            let snapshot = child.snapshot(now);
            let runner = runners
                .iter()
                .find(|(tokio_id, _)| Some(*tokio_id) == child.opened_in)
                .and_then(|(_, id)| tasks.iter_mut().find(|task| task.id == *id));
            match runner {
                Some(task) => task.scopes.push(snapshot),
                None => scopes.push(snapshot),
            }
        }
        ScopeSnapshot {
            id: self.id,
            name: self.name.clone(),
            policy: self.policy,
            state: scope_state,
            reason,
            age: now.saturating_duration_since(self.opened),
            tasks,
            done,
            cancelled,
            scopes,
        }
    }

    /// Counts a new task in and settles what it starts with, or `Err` with
    /// an id for its handle when the scope refuses spawns (cancelled or ended).
    fn prepare(&self, options: TaskOptions) -> Result<Prepared, TaskId> {
        let Some(id) = self.admit(&options) else {
            return Err(TaskId::next());
        };
        // A task gets its own token only when the scope has a grace period,
        // so that cancelling one task can signal it before aborting it.
        let own =
            (!self.grace.is_zero()).then(|| Arc::new(OwnSignal::new(self.token.child_token())));
        let meta = TaskMeta {
            id,
            kind: options.kind,
            location: options.location,
            name: options.name,
        };
        Ok(Prepared { meta, own })
    }

    /// Whether a task can start at once, with nothing to carry: the hot path.
    fn plain(&self) -> bool {
        self.slots.is_none() && self.grace.is_zero()
    }

    /// The future of a task of a scope with a concurrency limit or a grace
    /// period: it waits for its slot, then runs `task` within the grace rules.
    ///
    /// Generic over the future only (its output's types are projections), so
    /// that the returned future does not capture `E`, which is not `'static`.
    fn guarded<F, Fut>(
        self: &Arc<Self>,
        id: TaskId,
        own: Option<Arc<OwnSignal>>,
        task: F,
    ) -> impl Future<Output = Result<<Fut::Output as TaskOutput>::Value, TaskError>>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future,
        Fut::Output: TaskOutput,
    {
        let start = self.slots.as_ref().map(|slots| slots.start(id));
        let scope = self.clone();
        let token = match &own {
            Some(own) => own.token.clone(),
            None => self.token.clone(),
        };
        async move {
            let signal = token.clone();
            let _permit = match start {
                None => None,
                Some(Start::Now(permit)) => Some(permit),
                Some(Start::Wait(waiting)) => {
                    // A task waiting for its turn never starts once cancelled.
                    tokio::select! {
                        biased;
                        () = signal.cancelled() => return Err(TaskError::Cancelled),
                        permit = waiting.acquired() => match permit {
                            Some(permit) if !signal.is_cancelled() => Some(permit),
                            _ => return Err(TaskError::Cancelled),
                        },
                    }
                }
            };
            let user = task(token);
            match own {
                None => user.await.into_task(),
                Some(own) => scope.with_grace(&own, user).await,
            }
        }
    }

    /// Polls a task's future until it ends, or until the grace period after
    /// its cancellation has passed: then it yields `Cancelled` (the future is
    /// dropped, so the task is aborted at that `.await`).
    ///
    /// The deadline is checked against the clock at every poll, not only by
    /// its timer: a task that blocked its thread past the deadline (the timer
    /// cannot fire while its worker is blocked) is stopped at its next
    /// `.await` all the same (bug F in docs/RELIABILITY.md). The period runs
    /// from the first cancellation that reached the task: its scope's (or an
    /// ancestor's, which cancels the scope) or its own handle's.
    async fn with_grace<Fut>(
        &self,
        own: &OwnSignal,
        user: Fut,
    ) -> Result<<Fut::Output as TaskOutput>::Value, TaskError>
    where
        Fut: Future,
        Fut::Output: TaskOutput,
    {
        let mut user = pin!(user);
        let mut signalled = pin!(own.token.cancelled());
        let mut deadline = pin!(None::<Sleep>);
        poll_fn(|cx| {
            if deadline.is_none() && signalled.as_mut().poll(cx).is_ready() {
                let since = [self.cancelled_at.get(), own.at.get()]
                    .into_iter()
                    .flatten()
                    .min()
                    .copied()
                    .unwrap_or_else(Instant::now);
                deadline.set(Some(sleep_until(since + self.grace)));
            }
            if let Some(mut timer) = deadline.as_mut().as_pin_mut() {
                if timer.deadline() <= Instant::now() || timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(TaskError::Cancelled));
                }
            }
            user.as_mut().poll(cx).map(TaskOutput::into_task)
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
        let span = observe::task_spawned(self.id, self.name.as_deref(), &self.span, &meta);
        let scope = Scope {
            inner: self.clone(),
        };
        let fut = TaskFuture::new(scope, meta.id, fut);
        let join = match span {
            None => spawner.spawn(fut),
            Some(span) => spawner.spawn(observe::traced(fut, span)),
        };
        match join {
            Some(join) => {
                self.register(meta.id, join.abort_handle());
                join
            }
            None => {
                // The future was dropped, which counted the task out.
                self.forget(meta.id);
                panic!(
                    "Scope::spawn_local needs a `tokio::task::LocalSet`: run the scope \
                     inside `LocalSet::run_until` or `LocalSet::block_on`"
                )
            }
        }
    }

    /// Spawns a `Send` task onto the scope's runtime.
    #[track_caller]
    pub(crate) fn spawn<F, Fut, T, E>(
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
        let Prepared { meta, own } = match self.prepare(options) {
            Ok(prepared) => prepared,
            Err(id) => return TaskHandle::refused(id),
        };
        let id = meta.id;
        let spawner = OnRuntime(&self.runtime);
        let join = if self.plain() {
            self.launch(meta, plain(task), spawner)
        } else {
            let fut = self.guarded(id, own.clone(), task);
            self.launch(meta, fut, spawner)
        };
        TaskHandle::spawned(id, join, own)
    }

    /// Spawns a `!Send` task onto the current `LocalSet`.
    #[track_caller]
    pub(crate) fn spawn_local<F, Fut, T, E>(
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
        let Prepared { meta, own } = match self.prepare(options) {
            Ok(prepared) => prepared,
            Err(id) => return TaskHandle::refused(id),
        };
        let id = meta.id;
        let join = if self.plain() {
            self.launch(meta, plain(task), OnLocalSet)
        } else {
            let fut = self.guarded(id, own.clone(), task);
            self.launch(meta, fut, OnLocalSet)
        };
        TaskHandle::spawned(id, join, own)
    }
}

/// What an ended task still owes its scope: waking the run loop if it was
/// the last task. Done after the task has dropped its `Scope`, so that the
/// run loop, on the owner's thread, usually drops the scope's last reference
/// itself: the scope's state (and its tasks' records, holding the last
/// reference to their Tokio cells) is then freed on the thread that allocated
/// it. Freed by the worker that ran the last task, it would take the
/// allocator's arena lock of the other thread (docs/BENCHMARKS.md).
#[must_use = "wake the run loop once the task's scope is dropped"]
pub(crate) struct Ended {
    run_waker: Option<Waker>,
    /// A panic of the tracing subscriber while the end was reported,
    /// resumed once the task is counted out and the run loop woken.
    panic: Option<observe::Panic>,
}

impl Ended {
    pub(crate) fn wake(self) {
        if let Some(waker) = self.run_waker {
            waker.wake();
        }
        observe::resume(self.panic);
    }
}

/// A task's `JoinHandle`.
type TaskJoin<T> = JoinHandle<TaskResult<T>>;

/// The future of a task of a scope with no concurrency limit and no grace
/// period (see [`Inner::plain`]): the user's closure, called on the first
/// poll with its scope's token, so that the task carries nothing else.
///
/// Generic over the future only, like [`Inner::guarded`], so that the
/// returned future does not capture the error type.
async fn plain<F, Fut>(task: F) -> Result<<Fut::Output as TaskOutput>::Value, TaskError>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future,
    Fut::Output: TaskOutput,
{
    task(current_signal()).await.into_task()
}

/// The token of the scope whose task is being polled: a plain task's
/// signal, read when it first runs rather than carried from its spawn.
fn current_signal() -> CancellationToken {
    CURRENT.with(|current| match &*current.borrow() {
        Some(scope) => scope.inner.token.clone(),
        None => unreachable!("a task is polled with its scope current"),
    })
}

/// Where a task is spawned: the scope's runtime, or the current `LocalSet`.
/// `None` if it cannot be (the future is dropped).
trait Spawner<F: Future> {
    fn spawn(self, fut: F) -> Option<JoinHandle<F::Output>>;
}

/// Spawns onto a runtime.
struct OnRuntime<'a>(&'a tokio::runtime::Handle);

impl<F> Spawner<F> for OnRuntime<'_>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn spawn(self, fut: F) -> Option<JoinHandle<F::Output>> {
        Some(self.0.spawn(fut))
    }
}

/// Spawns onto the current `LocalSet`.
struct OnLocalSet;

impl<F> Spawner<F> for OnLocalSet
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn spawn(self, fut: F) -> Option<JoinHandle<F::Output>> {
        // Tokio panics outside a `LocalSet` (after dropping the future);
        // `launch` panics with a message of ours, at the caller's location.
        catch_unwind(AssertUnwindSafe(|| tokio::task::spawn_local(fut))).ok()
    }
}

/// How a task is to be spawned: its kind, name and spawn location.
pub(crate) struct TaskOptions {
    pub(crate) kind: TaskKind,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
}

impl TaskOptions {
    #[track_caller]
    pub(crate) fn new(kind: TaskKind, name: Option<Arc<str>>) -> Self {
        TaskOptions {
            kind,
            name,
            location: Location::caller(),
        }
    }
}

/// A task admitted by its scope, before its future is built.
struct Prepared {
    meta: TaskMeta,
    /// The task's own signal, with a grace period.
    own: Option<Arc<OwnSignal>>,
}

/// What the scope keeps of each task (40 bytes), for its failures, its
/// snapshot and aborting it. Named tasks' names are kept apart
/// (`State::names`): most tasks have none.
struct TaskRecord {
    id: TaskId,
    /// Set just after the spawn (`register`).
    abort: Option<AbortHandle>,
    location: &'static Location<'static>,
    /// Nanoseconds from the scope's opening to the spawn.
    spawned: u64,
    kind: TaskKind,
}

// === impl Scope ===

impl Scope {
    /// Returns a builder for a scope with options.
    ///
    /// # Examples
    ///
    /// See [`ScopeBuilder`].
    pub fn builder() -> ScopeBuilder {
        ScopeBuilder::default()
    }

    /// Returns the scope whose body or task is running now, if any.
    ///
    /// A scope started while another is current becomes its child.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{with_scope, Scope};
    ///
    /// assert!(Scope::current().is_none());
    /// with_scope(|scope| async move {
    ///     let current = Scope::current().expect("inside the body");
    ///     assert!(current.same_scope(&scope));
    ///     let task = scope.spawn(|_| async { Ok::<_, std::io::Error>(Scope::current().is_some()) });
    ///     assert!(task.await.unwrap());
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn current() -> Option<Scope> {
        CURRENT
            .try_with(|current| current.borrow().clone())
            .ok()
            .flatten()
    }

    /// Returns `true` if both handles refer to the same scope.
    ///
    /// # Examples
    ///
    /// See [`Scope::current`].
    pub fn same_scope(&self, other: &Scope) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Spawns a task onto this scope; its failure is handled by the scope's [`Policy`].
    ///
    /// `task` is called with the task's [`CancellationToken`] once the task
    /// may start (at once, or when a [`max_concurrency`](ScopeBuilder::max_concurrency)
    /// slot frees up). If the scope was cancelled or has ended, `task` is never
    /// called and the handle yields [`TaskError::Cancelled`]. `spawn` never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let user = scope.spawn(|_signal| async { Ok::<_, std::io::Error>("ada") });
    ///     assert_eq!(user.await?, "ada");
    ///     Ok::<_, async_scope::TaskError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Does not panic outside a runtime: the task runs on the scope's runtime.
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn(TaskOptions::new(TaskKind::Normal, None), task)
    }

    /// Spawns a critical task: its failure cancels the scope at once and fails
    /// it with [`Reason::CriticalTaskFailed`], under either policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Policy, Reason, Scope};
    ///
    /// let err = Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .run(|scope| async move {
    ///         scope.spawn_critical(|_| async { Err::<(), _>("commit failed") });
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_critical<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn(TaskOptions::new(TaskKind::Critical, None), task)
    }

    /// Spawns an optional task: its failure is recorded and goes to the
    /// nearest error handler, but never cancels or fails the scope. It is still
    /// cancelled with the scope.
    ///
    /// # Examples
    ///
    /// See [`OptionalHandle`].
    #[track_caller]
    pub fn spawn_optional<F, Fut, T, E>(&self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        OptionalHandle::new(
            self.inner
                .spawn(TaskOptions::new(TaskKind::Optional, None), task),
        )
    }

    /// Spawns a named task, as [`spawn`](Self::spawn); the name appears in its
    /// failure, in [`snapshot`](Self::snapshot), in tracing and in
    /// `ASYNC_SCOPE_DEBUG` lines. [`task`](Self::task) names critical,
    /// optional and local tasks too.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure::name`].
    #[track_caller]
    pub fn spawn_named<F, Fut, T, E>(&self, name: impl Into<String>, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let name = Some(Arc::from(name.into()));
        self.inner
            .spawn(TaskOptions::new(TaskKind::Normal, name), task)
    }

    /// Returns a builder for a task with options (a name), spawned by one of
    /// its `spawn` methods.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let commit = scope
    ///         .task()
    ///         .name("commit")
    ///         .spawn_critical(|_| async { Ok::<_, std::io::Error>(7) });
    ///     assert_eq!(commit.await?, 7);
    ///     Ok::<_, async_scope::TaskError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder::new(self)
    }

    /// Spawns a task that need not be `Send` onto the current
    /// [`LocalSet`](tokio::task::LocalSet), with the same rules as
    /// [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::rc::Rc;
    ///
    /// let local = tokio::task::LocalSet::new();
    /// local
    ///     .run_until(async_scope::with_scope(|scope| async move {
    ///         let shared = Rc::new(20); // not Send
    ///         let task = scope.spawn_local(move |_| async move { Ok::<_, std::io::Error>(*shared + 1) });
    ///         assert_eq!(task.await?, 21);
    ///         Ok::<_, async_scope::TaskError>(())
    ///     }))
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn_local(TaskOptions::new(TaskKind::Normal, None), task)
    }

    /// Spawns a critical task that need not be `Send` onto the current
    /// `LocalSet`, as [`spawn_critical`](Self::spawn_critical).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Reason, Scope};
    ///
    /// let local = tokio::task::LocalSet::new();
    /// let err = local
    ///     .run_until(Scope::builder().run(|scope| async move {
    ///         scope.spawn_local_critical(|_| async { Err::<(), _>(std::rc::Rc::new("no")).map_err(|e| e.to_string()) });
    ///         Ok::<_, std::io::Error>(())
    ///     }))
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local_critical<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn_local(TaskOptions::new(TaskKind::Critical, None), task)
    }

    /// Spawns an optional task that need not be `Send` onto the current
    /// `LocalSet`, as [`spawn_optional`](Self::spawn_optional).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let local = tokio::task::LocalSet::new();
    /// local
    ///     .run_until(async_scope::with_scope(|scope| async move {
    ///         let gone = scope.spawn_local_optional(|_| async { Err::<u8, _>("flaky") });
    ///         assert_eq!(gone.await, None);
    ///         Ok::<_, std::io::Error>(())
    ///     }))
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local_optional<F, Fut, T, E>(&self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        OptionalHandle::new(
            self.inner
                .spawn_local(TaskOptions::new(TaskKind::Optional, None), task),
        )
    }

    /// Returns the scope's id.
    ///
    /// # Examples
    ///
    /// See [`ScopeId`].
    pub fn id(&self) -> ScopeId {
        self.inner.id
    }

    /// Returns a snapshot of the scope: its tasks that have not ended and
    /// those that failed, and its nested scopes still open, each with its
    /// state; its `Display` draws it as a tree. The scope's `Debug` shows it too.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn snapshot(&self) -> ScopeSnapshot {
        self.inner.snapshot(Instant::now())
    }

    /// Cancels the scope: every task's token and every nested scope is
    /// cancelled, tasks are aborted after the grace period, later spawns are
    /// refused, and the scope fails with [`Reason::Cancelled`] (unless it had
    /// already failed). The body is not interrupted.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{with_scope, TaskError};
    ///
    /// let err = with_scope(|scope| async move {
    ///     scope.cancel();
    ///     assert!(scope.is_cancelled());
    ///     let late = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
    ///     assert!(matches!(late.await, Err(TaskError::Cancelled)));
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.inner.fail(Reason::Cancelled);
    }

    /// Returns `true` if the scope was cancelled: explicitly, by an ancestor,
    /// by a failure or by its timeout. A scope that ended normally is not
    /// cancelled (though it refuses new spawns).
    ///
    /// # Examples
    ///
    /// See [`Scope::cancel`].
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Returns a token that is cancelled when this scope is cancelled.
    ///
    /// It is the token the scope's tasks receive (without a grace period).
    /// To cancel the scope, call [`cancel`](Self::cancel): cancelling this
    /// token by hand signals the tasks, and the scope notices only when its
    /// body has ended (with a grace period, at once).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let _ = async_scope::with_scope(|scope| async move {
    ///     let signal = scope.signal();
    ///     scope.cancel();
    ///     signal.cancelled().await; // ready at once
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await;
    /// # }
    /// ```
    pub fn signal(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Returns the scope's failure policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Policy, Scope};
    ///
    /// Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .run(|scope| async move {
    ///         assert_eq!(scope.policy(), Policy::Supervise);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    /// Returns the scope's name, if its builder gave it one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::Scope::builder()
    ///     .name("billing")
    ///     .run(|scope| async move {
    ///         assert_eq!(scope.name(), Some("billing"));
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Waits until every task spawned so far has ended (and any they spawned
    /// meanwhile); `Err` if the scope has failed by then.
    ///
    /// Supervised and optional failures do not make it fail. Awaiting it from
    /// one of the scope's own tasks never completes, since that task has not ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Policy, Scope};
    ///
    /// Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .run(|scope| async move {
    ///         scope.spawn(|_| async { Err::<(), _>("flaky") });
    ///         scope.wait_for_completion().await?; // supervised: still Ok
    ///         assert_eq!(scope.errors().len(), 1);
    ///         Ok::<_, async_scope::ScopeError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The scope's error, when the scope has failed or was cancelled.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait_for_completion(&self) -> Result<(), ScopeError> {
        self.inner.all_ended().await;
        match self.inner.reason() {
            Some(reason) => Err(self.inner.error(reason)),
            None => Ok(()),
        }
    }

    /// Returns every failure so far, of every kind, in the order they
    /// happened. Cancellation is not a failure.
    ///
    /// # Examples
    ///
    /// See [`Scope::wait_for_completion`].
    pub fn errors(&self) -> Vec<TaskFailure> {
        self.inner.lock().failures.clone()
    }
}

/// Shows the scope's [`snapshot`](Scope::snapshot) tree.
impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.snapshot(), f)
    }
}

// === impl ScopeBuilder ===

impl ScopeBuilder {
    /// Sets the failure policy (default [`Policy::Cancel`]).
    ///
    /// # Examples
    ///
    /// See [`ScopeBuilder`].
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Names the scope; the name appears in its errors and `Debug`.
    ///
    /// # Examples
    ///
    /// See [`ScopeError::scope_name`].
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Cancels the scope and fails it with [`Reason::TimedOut`] when `after`
    /// elapses before the scope ends.
    ///
    /// # Examples
    ///
    /// See [`ScopeBuilder`].
    #[must_use]
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// Sets how long cancelled tasks may go on after their token is cancelled
    /// before they are aborted (default zero: aborted at their next `.await`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use async_scope::Scope;
    ///
    /// let _ = Scope::builder()
    ///     .grace(Duration::from_secs(1))
    ///     .run(|scope| async move {
    ///         let flush = scope.spawn(|signal| async move {
    ///             signal.cancelled().await;
    ///             tokio::time::sleep(Duration::from_millis(10)).await; // flush buffers
    ///             Ok::<_, std::io::Error>("flushed")
    ///         });
    ///         scope.cancel();
    ///         assert_eq!(flush.await.unwrap(), "flushed");
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await;
    /// # }
    /// ```
    #[must_use]
    pub fn grace(mut self, period: Duration) -> Self {
        self.grace = period;
        self
    }

    /// Lets at most `limit` tasks of the scope run at once; further tasks wait
    /// their turn in spawn order (`spawn` itself never blocks).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    ///
    /// let running = Arc::new(AtomicUsize::new(0));
    /// async_scope::Scope::builder()
    ///     .max_concurrency(2)
    ///     .run(|scope| async move {
    ///         for _ in 0..10 {
    ///             let running = running.clone();
    ///             scope.spawn(move |_| async move {
    ///                 assert!(running.fetch_add(1, SeqCst) < 2);
    ///                 tokio::task::yield_now().await;
    ///                 running.fetch_sub(1, SeqCst);
    ///                 Ok::<_, std::io::Error>(())
    ///             });
    ///         }
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Panics at once if `limit` is zero.
    #[must_use]
    #[track_caller]
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        assert!(
            limit >= 1,
            "max_concurrency limit must be at least 1, got 0"
        );
        self.max_concurrency = Some(limit);
        self
    }

    /// Installs an error handler: it is called once for each failure that does
    /// not fail the scope (supervised and optional ones) in this scope or in a
    /// nested scope without a handler of its own.
    ///
    /// A handler that panics is removed; that failure and later ones go to the
    /// next handler up. Failures that fail a scope reach the caller through
    /// [`ScopeError`], not a handler.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::{Arc, Mutex};
    /// use async_scope::{Policy, Scope};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .on_error(move |failure| log.lock().unwrap().push(failure.error().to_string()))
    ///     .run(|scope| async move {
    ///         scope.spawn(|_| async { Err::<(), _>("flaky") });
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["flaky"]);
    /// # }
    /// ```
    #[must_use]
    pub fn on_error<H>(mut self, handler: H) -> Self
    where
        H: Fn(&TaskFailure) + Send + Sync + 'static,
    {
        self.handler = Some(Handler {
            f: Box::new(handler),
            removed: AtomicBool::new(false),
        });
        self
    }

    /// Runs `body` in a new scope with these options, and waits for every task.
    ///
    /// The body is polled inline by the caller (it may borrow from it); tasks
    /// run on the Tokio runtime. Started inside another scope's body or task,
    /// the new scope is that scope's child.
    ///
    /// Returns the body's `Ok` value once every task has ended, or the
    /// [`ScopeError`] of the first event that failed the scope: a failing task
    /// (per the policy and its kind), the body's `Err`, cancellation, or the timeout.
    ///
    /// # Examples
    ///
    /// See [`ScopeBuilder`].
    ///
    /// # Errors
    ///
    /// See [`Reason`] for the causes.
    ///
    /// # Panics
    ///
    /// Panics if polled outside a Tokio runtime. If the body panics, the scope
    /// is cancelled and its tasks joined, then the panic continues.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts every task at once: none is polled again.
    pub async fn run<F, Fut, T, E>(self, body: F) -> Result<T, ScopeError>
    where
        F: FnOnce(Scope) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let timeout = self.timeout;
        let scope = self.open();
        let inner = scope.inner.clone();
        let mut guard = RunGuard {
            inner: Some(inner.clone()),
        };

        let mut body = pin!(Entered::new(scope.clone(), body(scope)));
        let mut body_out = None;
        // The token is watched only to arm the grace timer: every
        // cancellation but a hand-made `signal().cancel()` goes through
        // `fail`, which without a grace period aborts the tasks itself. Not
        // watching it spares a token lock per turn of this loop.
        let mut cancelled = pin!((!inner.grace.is_zero()).then(|| inner.token.cancelled()));
        let mut timer = pin!(timeout.map(sleep));
        let mut grace_timer = pin!(None::<Sleep>);

        // The run loop: each turn polls, in this order, the body (until it
        // returns), the token (with a grace period), the grace timer, the
        // timeout, then (once the body has returned) waits for the last
        // task. Whatever fires starts a new turn, so that a timer it set is
        // polled (registered) too.
        poll_fn(|cx| loop {
            if body_out.is_none() {
                if let Poll::Ready(out) = body.as_mut().poll(cx) {
                    let out = match out {
                        Ok(Ok(value)) => Ok(Some(value)),
                        Ok(Err(error)) => {
                            inner.fail(Reason::BodyFailed(Arc::from(error.into())));
                            Ok(None)
                        }
                        Err(panic) => {
                            inner.fail(Reason::Cancelled);
                            Err(panic)
                        }
                    };
                    if cancelled.is_none() && inner.token.is_cancelled() {
                        // Cancelled by hand through `signal()`, unwatched till now.
                        inner.fail(Reason::Cancelled);
                    }
                    body_out = Some(out);
                    inner.body_ended.store(true, Ordering::Release);
                    continue;
                }
            }
            if let Some(signal) = cancelled.as_mut().as_pin_mut() {
                if signal.poll(cx).is_ready() {
                    cancelled.set(None);
                    inner.fail(Reason::Cancelled); // no-op when the scope failed itself
                    grace_timer.set(Some(sleep(inner.grace)));
                    continue;
                }
            }
            if let Some(grace) = grace_timer.as_mut().as_pin_mut() {
                if grace.poll(cx).is_ready() {
                    grace_timer.set(None);
                    inner.abort_all();
                    continue;
                }
            }
            if let Some(deadline) = timer.as_mut().as_pin_mut() {
                if deadline.poll(cx).is_ready() {
                    timer.set(None);
                    inner.fail(Reason::TimedOut);
                    continue;
                }
            }
            if body_out.is_none() {
                return Poll::Pending;
            }
            return inner.poll_closed(cx);
        })
        .await;
        guard.inner = None;
        inner.ended.store(true, Ordering::Release);
        inner.leave_parent();
        let outcome = match body_out {
            Some(Ok(Some(value))) => match inner.reason() {
                None => Ok(value),
                Some(reason) => Err(reason),
            },
            Some(Ok(None)) => Err(inner.reason().unwrap_or(Reason::Cancelled)),
            Some(Err(panic)) => {
                inner.closed(observe::Closed::Panicked);
                resume_unwind(panic)
            }
            None => unreachable!("the loop ends only after the body"),
        };
        match outcome {
            Ok(value) => {
                inner.closed(observe::Closed::Ok);
                Ok(value)
            }
            Err(reason) => {
                inner.closed(observe::Closed::Failed(&reason));
                Err(inner.error(reason))
            }
        }
    }

    /// Creates the scope's state, as a child of the current scope if any.
    fn open(self) -> Scope {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(_) => panic!(
                "async-scope needs a Tokio runtime: run scopes inside `#[tokio::main]`, \
                 `#[tokio::test]` or `Runtime::block_on`"
            ),
        };
        let parent = Scope::current().map(|scope| scope.inner);
        // Not a child token: cancellation reaches nested scopes through
        // `State::children` (see `fail_locked` and `adopt`), which spares
        // every nested scope a node in its parent's token tree.
        let token = CancellationToken::new();
        let id = ScopeId::next();
        let span = observe::scope_opened(
            id,
            self.name.as_deref(),
            self.policy,
            parent.as_ref().map(|p| (p.id, &p.span)),
        );
        let inner = Inner {
            id,
            name: self.name,
            policy: self.policy,
            grace: self.grace,
            token,
            cancelled_at: OnceLock::new(),
            aborted: AtomicBool::new(false),
            parent,
            handler: self.handler,
            slots: self.max_concurrency.map(Slots::new),
            runtime,
            state: Mutex::new(State {
                live: 0,
                closed: false,
                tasks: Vec::new(),
                names: Vec::new(),
                done: 0,
                cancelled: 0,
                prune_at: MIN_PRUNE,
                run_waker: None,
                completion_waiters: 0,
                children: Vec::new(),
                holds_parent: false,
                failures: Vec::new(),
                reason: None,
            }),
            all_done: Notify::new(),
            opened_in: tokio::task::try_id(),
            body_ended: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            opened: Instant::now(),
            span,
        };
        let inner = Arc::new(inner);
        if let Some(parent) = &inner.parent {
            // Opened under an ancestor that was already cancelled.
            if parent.adopt(&inner) {
                inner.fail(Reason::Cancelled);
            }
        }
        Scope { inner }
    }
}

/// A task's own result, whatever its error type; `into_task` turns its error
/// into a failure.
pub(crate) trait TaskOutput {
    type Value;
    fn into_task(self) -> Result<Self::Value, TaskError>;
}

impl<T, E: Into<BoxError>> TaskOutput for Result<T, E> {
    type Value = T;
    fn into_task(self) -> Result<T, TaskError> {
        self.map_err(|error| TaskError::Failed(Arc::from(error.into())))
    }
}

/// Aborts every task when the scope's future is dropped before it ends.
struct RunGuard {
    inner: Option<Arc<Inner>>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.ended.store(true, Ordering::Release);
            inner.kill();
            inner.leave_parent();
            inner.closed(observe::Closed::Dropped);
        }
    }
}

impl fmt::Debug for ScopeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeBuilder")
            .field("policy", &self.policy)
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .field("max_concurrency", &self.max_concurrency)
            .field("on_error", &self.handler.is_some())
            .finish()
    }
}
