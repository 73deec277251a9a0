//! Task handles: [`TaskHandle`] and [`OptionalHandle`], what awaiting one
//! yields, and how one cancels its task (its own token at once, then the
//! abort, at once or after the scope's grace period).
//!
//! A spawned task's value travels to the handle through Tokio's own
//! `JoinHandle`: no channel and no extra allocation per task. An inline task
//! (`scope/inline.rs`) has no Tokio task: its value travels through an
//! [`InlineSlot`], which also holds its own token, and its abort is the
//! dropping of its future by the scope's run loop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::TaskError;
use crate::ids::TaskId;

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
    task: Task<T>,
}

/// Where a handle's task runs, and so how its value arrives and how it is
/// cancelled.
enum Task<T> {
    /// A Tokio task.
    Spawned {
        join: JoinHandle<TaskResult<T>>,
        own: OwnSignal,
    },
    /// An inline task, polled by its scope's run loop.
    Inline(Arc<InlineSlot<T>>),
    /// A spawn the scope refused: the task never existed.
    Refused,
}

/// A task's own token, as its handle cancels it: a child of its scope's
/// signal, so that cancelling it reaches that task alone.
pub(crate) enum OwnSignal {
    /// No grace period: the task is aborted as soon as its token is cancelled.
    Abort(CancellationToken),
    /// A grace period: the task's wrapper aborts it when the period, counted
    /// from the handle's cancellation, has passed.
    Graced(Arc<GracedSignal>),
}

/// A task's own token in a scope with a grace period, shared by its handle
/// and its wrapper future.
pub(crate) struct GracedSignal {
    pub(crate) token: CancellationToken,
    /// When the handle cancelled the task: its grace period runs from here.
    pub(crate) at: OnceLock<Instant>,
    /// Wakes the task's wrapper when the handle cancels it (the token alone
    /// cannot tell a handle's cancellation from the task's own).
    pub(crate) cancelled: Notify,
}

impl GracedSignal {
    pub(crate) fn new(token: CancellationToken) -> Self {
        GracedSignal {
            token,
            at: OnceLock::new(),
            cancelled: Notify::new(),
        }
    }

    /// The handle's cancellation: the token at once, the abort when the
    /// grace period from now has passed.
    fn cancel(&self) {
        self.at.get_or_init(Instant::now);
        self.token.cancel();
        self.cancelled.notify_one();
    }
}

impl<T> TaskHandle<T> {
    pub(crate) fn spawned(id: TaskId, join: JoinHandle<TaskResult<T>>, own: OwnSignal) -> Self {
        TaskHandle {
            id,
            task: Task::Spawned { join, own },
        }
    }

    /// The handle of an inline task, whose value arrives in `slot`.
    pub(crate) fn inline(id: TaskId, slot: Arc<InlineSlot<T>>) -> Self {
        TaskHandle {
            id,
            task: Task::Inline(slot),
        }
    }

    /// A handle for a spawn the scope refused (cancelled or ended): it yields `Cancelled`.
    pub(crate) fn refused(id: TaskId) -> Self {
        TaskHandle {
            id,
            task: Task::Refused,
        }
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
    /// it finished first. Its own token (a child of its scope's signal, so no
    /// sibling sees it) is cancelled at once; the task is aborted at its next
    /// `.await` at once, or when its scope's
    /// [grace period](crate::ScopeBuilder::grace) has passed.
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
        match &self.task {
            Task::Spawned {
                join,
                own: OwnSignal::Abort(token),
            } => {
                // The token first: work the task handed it to learns of
                // the cancellation even if the task never runs again.
                token.cancel();
                join.abort();
            }
            Task::Spawned {
                own: OwnSignal::Graced(own),
                ..
            } => own.cancel(),
            Task::Inline(slot) => slot.own.cancel(),
            Task::Refused => {}
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
        match &self.task {
            Task::Spawned { join, .. } => join.is_finished(),
            Task::Inline(slot) => slot.lock().ended,
            Task::Refused => true,
        }
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let join = match &mut self.task {
            Task::Spawned { join, .. } => join,
            Task::Inline(slot) => return slot.poll_value(cx),
            Task::Refused => return Poll::Ready(Err(TaskError::Cancelled)),
        };
        Poll::Ready(match ready!(Pin::new(join).poll(cx)) {
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
/// The task's failure is still recorded in [`Scope::errors`](crate::Scope::errors) and goes to the
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

/// A task's result as Tokio keeps it until its handle takes it: the error
/// boxed (a task rarely fails), so that Tokio's task cell for a small future
/// is the smallest, as a `JoinSet` task's (a `TaskError` is 24 bytes; with
/// `JoinError` around it, Tokio's stage would outgrow that cell).
pub(crate) type TaskResult<T> = Result<T, Box<TaskError>>;

/// An inline task's end, shared by its handle and its future (one
/// allocation): its own token, as its handle cancels it, and its value.
///
/// The task's future fills the slot when it completes, or marks it ended
/// when it is dropped first (its abort): the handle then yields `Cancelled`.
pub(crate) struct InlineSlot<T> {
    /// The task's own token; an inline task always runs within the grace
    /// rules, since its abort is its future being dropped by the run loop.
    pub(crate) own: GracedSignal,
    out: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    /// The task's value, until its handle takes it.
    value: Option<Result<T, TaskError>>,
    /// The task's future is gone.
    ended: bool,
    /// The handle waiting for the value.
    waker: Option<Waker>,
}

impl<T> InlineSlot<T> {
    pub(crate) fn new(token: CancellationToken) -> Self {
        InlineSlot {
            own: GracedSignal::new(token),
            out: Mutex::new(SlotState {
                value: None,
                ended: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // Only our own code runs under this lock.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The task's end: its value, or `None` if its future was dropped
    /// before it completed. Wakes the handle.
    pub(crate) fn end(&self, value: Option<Result<T, TaskError>>) {
        let mut out = self.lock();
        if out.ended {
            return;
        }
        out.ended = true;
        out.value = value;
        let waker = out.waker.take();
        drop(out);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll_value(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let mut out = self.lock();
        if out.ended {
            return Poll::Ready(out.value.take().unwrap_or(Err(TaskError::Cancelled)));
        }
        match &out.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => out.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
