//! Tasks: their ids, the handles that await them, and the wrapper every task
//! runs in.
//!
//! A task is one `tokio::spawn`ed future, [`TaskFuture`]: it waits for a
//! concurrency slot if the scope has a limit, calls the user's closure with
//! the task's [`CancellationToken`], polls the user's future with
//! [`Scope::current`] set and panics caught, reports a failure to its scope
//! (the one place that decides what it means, `Inner::report`), and tells the
//! scope it ended: from its last poll when it completes (the user's future is
//! already dropped by then), or from its drop when it is aborted first. A task
//! whose scope was aborted is never polled again: its next poll ends it as
//! cancelled without touching the user's future, even if Tokio's abort has
//! not reached it yet (a task spawned but not yet registered with its scope).
//! The user's value travels to the [`TaskHandle`] through Tokio's own
//! `JoinHandle`: no channel and no extra allocation per task.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::TaskError;
use crate::policy::TaskKind;
use crate::scope::{Inner, Scope};
use crate::snapshot::TaskState;

/// A task's id, unique in the process. Ids grow in spawn order.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|scope| async move {
///     let a = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
///     let b = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
///     assert!(a.id() < b.id());
///     assert_eq!(a.id().to_string(), a.id().as_u64().to_string());
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Returns the id as a number.
    ///
    /// # Examples
    ///
    /// See [`TaskId`].
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An owned permission to await a task's result.
///
/// Awaiting it yields `Ok(value)`, `Err(TaskError::Failed)`,
/// `Err(TaskError::Panicked)` or `Err(TaskError::Cancelled)`. Dropping it does
/// not cancel the task: the task still belongs to its scope, which waits for it.
///
/// # Comparison to `JoinHandle`
///
/// Like Tokio's `JoinHandle`, but a task's failure is also reported to its
/// scope (which applies its policy) whether or not anyone awaits the handle,
/// and a cancelled or refused task yields `TaskError::Cancelled` instead of a
/// `JoinError`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|scope| async move {
///     let answer = scope.spawn(|_| async { Ok::<_, std::io::Error>(42) });
///     assert_eq!(answer.await.unwrap(), 42);
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
///
/// # Cancel safety
///
/// Awaiting a handle is cancel safe: if the `.await` is dropped, the task goes
/// on and the handle can be awaited again.
pub struct TaskHandle<T> {
    id: TaskId,
    join: Option<Joined<T>>,
}

/// The parts of a handle whose task was really spawned.
struct Joined<T> {
    join: JoinHandle<TaskResult<T>>,
    /// The task's own signal, only when its scope has a grace period:
    /// cancelling one task then signals it first and aborts it after the
    /// grace period. With no grace period the task shares its scope's token
    /// and `cancel` aborts it at once.
    own: Option<Arc<OwnSignal>>,
}

/// A task's own cancellation, when its scope has a grace period.
pub(crate) struct OwnSignal {
    /// A child of the scope's token.
    pub(crate) token: CancellationToken,
    /// When the task's handle cancelled it: its grace period runs from here.
    pub(crate) at: OnceLock<Instant>,
}

impl OwnSignal {
    pub(crate) fn new(token: CancellationToken) -> Self {
        OwnSignal {
            token,
            at: OnceLock::new(),
        }
    }

    fn cancel(&self) {
        self.at.get_or_init(Instant::now);
        self.token.cancel();
    }
}

impl<T> TaskHandle<T> {
    pub(crate) fn spawned(
        id: TaskId,
        join: JoinHandle<TaskResult<T>>,
        own: Option<Arc<OwnSignal>>,
    ) -> Self {
        TaskHandle {
            id,
            join: Some(Joined { join, own }),
        }
    }

    /// A handle for a spawn the scope refused (cancelled or ended): it yields `Cancelled`.
    pub(crate) fn refused(id: TaskId) -> Self {
        TaskHandle { id, join: None }
    }

    /// Returns the task's id.
    ///
    /// # Examples
    ///
    /// See [`TaskId`].
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Cancels this one task.
    ///
    /// It ends with [`TaskError::Cancelled`], which is not a failure, unless
    /// it finished first. How it is stopped depends on its scope's grace period:
    ///
    /// - with a grace period, the task has a token of its own (a child of the
    ///   scope's): that token is cancelled at once, and the task is aborted
    ///   when the grace period ends;
    /// - with none (the default), tasks share their scope's token, so that a
    ///   spawn costs no token of its own; cancelling one task aborts it at its
    ///   next `.await` and leaves the shared token alone. Work the task handed
    ///   its token to (a blocking thread, say) is then not signalled: give the
    ///   scope a grace period if tasks must learn of their own cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{with_scope, TaskError};
    ///
    /// with_scope(|scope| async move {
    ///     let forever = scope.spawn(|_| async {
    ///         std::future::pending::<()>().await;
    ///         Ok::<_, std::io::Error>(())
    ///     });
    ///     forever.cancel();
    ///     assert!(matches!(forever.await, Err(TaskError::Cancelled)));
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap(); // a cancelled task does not fail its scope
    /// # }
    /// ```
    pub fn cancel(&self) {
        if let Some(joined) = &self.join {
            match &joined.own {
                Some(own) => own.cancel(),
                None => joined.join.abort(),
            }
        }
    }

    /// Returns `true` if the task has ended (or was never started).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let task = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
    ///     scope.wait_for_completion().await?;
    ///     assert!(task.is_finished());
    ///     Ok::<_, async_scope::ScopeError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().map_or(true, |j| j.join.is_finished())
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(joined) = &mut self.join else {
            return Poll::Ready(Err(TaskError::Cancelled));
        };
        Poll::Ready(match ready!(Pin::new(&mut joined.join).poll(cx)) {
            Ok(result) => result.map_err(|error| *error),
            // Our wrapper catches the task's panics, so a panicking JoinError
            // comes from a destructor that panicked while the task was aborted.
            Err(e) if e.is_panic() => Err(TaskError::from_panic(&*e.into_panic())),
            Err(_) => Err(TaskError::Cancelled),
        })
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A handle to an optional task: awaiting it yields `Some(value)`, or `None`
/// if the task failed or was cancelled.
///
/// The task's failure is still recorded in [`Scope::errors`] and goes to the
/// nearest error handler; it never fails the scope.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|scope| async move {
///     let metrics = scope.spawn_optional(|_| async { Err::<u32, _>("statsd down") });
///     assert_eq!(metrics.await, None);
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap(); // optional failures never fail the scope
/// # }
/// ```
///
/// # Cancel safety
///
/// Cancel safe, as [`TaskHandle`].
#[derive(Debug)]
pub struct OptionalHandle<T> {
    inner: TaskHandle<T>,
}

impl<T> OptionalHandle<T> {
    pub(crate) fn new(inner: TaskHandle<T>) -> Self {
        OptionalHandle { inner }
    }

    /// Returns the task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let h = scope.spawn_optional(|_| async { Ok::<_, std::io::Error>(()) });
    ///     assert!(h.id().as_u64() > 0);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn id(&self) -> TaskId {
        self.inner.id()
    }

    /// Cancels this one task, as [`TaskHandle::cancel`]; the handle then yields `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let h = scope.spawn_optional(|_| std::future::pending::<Result<(), std::io::Error>>());
    ///     h.cancel();
    ///     assert_eq!(h.await, None);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Returns `true` if the task has ended (or was never started).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let h = scope.spawn_optional(|_| async { Ok::<_, std::io::Error>(()) });
    ///     scope.wait_for_completion().await?;
    ///     assert!(h.is_finished());
    ///     Ok::<_, async_scope::ScopeError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> Future for OptionalHandle<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx).map(Result::ok)
    }
}

/// What a task's scope knows of it, to report it: in a failure, in a
/// snapshot, in tracing. Built from the scope's records (`TaskRecord`, and
/// `State::names`) when needed, never kept in the task, whose future stays
/// small.
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) kind: TaskKind,
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<Arc<str>>,
}

/// A task's result as Tokio keeps it until its handle takes it: the error
/// boxed (a task rarely fails), so that Tokio's task cell for a small future
/// is the smallest, as a `JoinSet` task's (a `TaskError` is 24 bytes; with
/// `JoinError` around it, Tokio's stage would outgrow that cell).
pub(crate) type TaskResult<T> = Result<T, Box<TaskError>>;

pin_project! {
    /// The future Tokio runs for each task; see the module docs.
    ///
    /// Only the user's future (wrapped in one of the scope's async blocks)
    /// and its owner: a task's kind, name and location live in its scope's
    /// records, so that a small user future still fits Tokio's smallest task
    /// cell, as it would in a `JoinSet` (docs/BENCHMARKS.md, memory).
    pub(crate) struct TaskFuture<Fut> {
        // Declared first so it is dropped first: when the task is dropped
        // before it completes, the user's future (and every destructor in
        // it) is gone before `owner` counts the task out of its scope.
        #[pin]
        fut: Fut,
        owner: Owner,
    }
}

/// The task's scope, entered (made `Scope::current`) on every poll, and its
/// id. The task counts itself out of its scope when its future completes
/// (the user's future is gone by then: it is always owned by an async block
/// of the scope's, which has dropped it on returning) or, if it never
/// completes, when it is dropped: aborted or cancelled.
struct Owner {
    /// `None` while the task is polled (the scope is then in
    /// `Scope::current`) and once the task has been counted out.
    scope: Option<Scope>,
    id: TaskId,
}

impl Owner {
    /// Counts the task out of its scope, once: lets go of the scope, then
    /// wakes its run loop if this was the last task (see `Ended`).
    fn count_out(&mut self, how: TaskState) {
        if let Some(scope) = self.scope.take() {
            let ended = scope.inner.task_ended(self.id, how);
            drop(scope);
            ended.wake();
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.count_out(TaskState::Cancelled);
    }
}

impl<Fut> TaskFuture<Fut> {
    pub(crate) fn new(scope: Scope, id: TaskId, fut: Fut) -> Self {
        TaskFuture {
            fut,
            owner: Owner {
                scope: Some(scope),
                id,
            },
        }
    }
}

impl<Fut, T> Future for TaskFuture<Fut>
where
    Fut: Future<Output = Result<T, TaskError>>,
{
    type Output = TaskResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let owner = this.owner;
        if owner.scope.as_ref().is_some_and(|s| s.inner.is_aborted()) {
            // Aborted, though perhaps not through Tokio yet (see
            // `Inner::abort_all`): stop without polling. The scope stays in
            // `owner`, which counts the task out once Tokio has dropped the
            // user's future.
            return Poll::Ready(Err(Box::new(TaskError::Cancelled)));
        }
        let polled = enter(&mut owner.scope, || this.fut.poll(cx));
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(payload)) => Err(TaskError::from_panic(&*payload)),
        };
        let ended = match &result {
            Ok(_) => TaskState::Done,
            Err(TaskError::Cancelled) => TaskState::Cancelled,
            Err(error) => {
                // Reported while `owner` still holds the scope: should the
                // report unwind (a tracing subscriber is user code), the
                // task is still counted out, by `Owner::drop`.
                if let Some(scope) = &owner.scope {
                    scope.inner.task_failed(owner.id, error.clone());
                }
                TaskState::Failed
            }
        };
        // Once only: a poll after completion (Tokio never makes one) finds
        // the scope gone.
        owner.count_out(ended);
        Poll::Ready(result.map_err(Box::new))
    }
}

pin_project! {
    /// A future polled with its scope entered and its panics caught: the body's wrapper.
    pub(crate) struct Entered<F> {
        scope: Option<Scope>,
        // The same scope, for its span (`scope` is moved out while polling).
        inner: Arc<Inner>,
        #[pin]
        fut: F,
    }
}

impl<F> Entered<F> {
    pub(crate) fn new(scope: Scope, fut: F) -> Self {
        Entered {
            inner: scope.inner.clone(),
            scope: Some(scope),
            fut,
        }
    }
}

impl<F: Future> Future for Entered<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _span = this.inner.span.enter();
        match enter(this.scope, || this.fut.poll(cx)) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => Poll::Ready(r),
        }
    }
}

/// Runs `f` with `slot`'s scope as [`Scope::current`] and its panic caught.
///
/// The scope is moved into the thread-local and back, never cloned: entering
/// costs no reference-count traffic.
fn enter<R>(
    slot: &mut Option<Scope>,
    f: impl FnOnce() -> Poll<R>,
) -> Poll<Result<R, Box<dyn Any + Send>>> {
    struct Restore<'a> {
        slot: &'a mut Option<Scope>,
        previous: Option<Scope>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let previous = self.previous.take();
            *self.slot = crate::scope::CURRENT.with(|current| current.replace(previous));
        }
    }
    let entered = slot.take();
    let previous = crate::scope::CURRENT.with(|current| current.replace(entered));
    let _restore = Restore { slot, previous };
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
        Err(payload) => Poll::Ready(Err(payload)),
    }
}
