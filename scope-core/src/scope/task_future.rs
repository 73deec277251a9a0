//! The future every task runs in ([`TaskFuture`]), and [`Entered`], the
//! body's: each polls its future with [`Scope::current`] set to its scope and
//! panics caught.
//!
//! A task's future reports a failure to its scope (`failure.rs`) and is
//! counted out of it (`Inner::task_ended`): from its last poll when it
//! completes (the user's future is already dropped by then), or from its drop
//! when it is aborted first. A task whose scope aborted its tasks is never
//! polled again: its next poll ends it as cancelled without touching the
//! user's future, even if Tokio's abort has not reached it yet (a task spawned
//! but not yet registered with its scope).

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::inner::Inner;
use super::records::End;
use super::Scope;
use crate::error::TaskError;
use crate::handle::TaskResult;
use crate::ids::TaskId;

pin_project! {
    /// The future Tokio runs for each task; see the module docs.
    ///
    /// Only the user's future (wrapped in one of the scope's async blocks)
    /// and its owner: a task's kind, name and location live in its scope's
    /// records, so that a small user future still fits Tokio's smallest task
    /// cell, as it would in a `JoinSet` (docs/BENCHMARKS.md, memory).
    pub(super) struct TaskFuture<Fut> {
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
    /// wakes its run loop if this was the last task (see `CountedOut`).
    fn count_out(&mut self, how: End) {
        if let Some(scope) = self.scope.take() {
            let counted_out = scope.inner.task_ended(self.id, how);
            drop(scope);
            counted_out.wake();
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.count_out(End::Cancelled);
    }
}

impl<Fut> TaskFuture<Fut> {
    pub(super) fn new(scope: Scope, id: TaskId, fut: Fut) -> Self {
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
            // `Inner::abort_tasks`): stop without polling. The scope stays in
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
            Ok(_) => End::Done,
            Err(TaskError::Cancelled) => End::Cancelled,
            Err(error) => {
                // Reported while `owner` still holds the scope: should the
                // report unwind (a tracing subscriber is user code), the
                // task is still counted out, by `Owner::drop`.
                if let Some(scope) = &owner.scope {
                    scope.inner.task_failed(owner.id, error.clone());
                }
                End::Failed
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
    pub(super) struct Entered<F> {
        scope: Option<Scope>,
        // The same scope, for its span (`scope` is moved out while polling).
        inner: Arc<Inner>,
        #[pin]
        fut: F,
    }
}

impl<F> Entered<F> {
    pub(super) fn new(scope: Scope, fut: F) -> Self {
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
/// costs no reference-count traffic, and one look-up of the thread-local.
fn enter<R>(
    slot: &mut Option<Scope>,
    f: impl FnOnce() -> Poll<R>,
) -> Poll<Result<R, Box<dyn Any + Send>>> {
    struct Restore<'a> {
        current: &'a Cell<Option<Scope>>,
        slot: &'a mut Option<Scope>,
        previous: Option<Scope>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.slot = self.current.replace(self.previous.take());
        }
    }
    super::CURRENT.with(|current| {
        let previous = current.replace(slot.take());
        let _restore = Restore {
            current,
            slot,
            previous,
        };
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
}
