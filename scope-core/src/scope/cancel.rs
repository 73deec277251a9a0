//! Cancellation: failing a scope (the first reason wins), cancelling its
//! signal and the scopes nested in it, aborting its tasks, and the grace
//! period between the two, on one clock.
//!
//! - `fail`: the scope stops accepting spawns, names its reason if it is the
//!   first, records when it was cancelled (`cancelled_at`) and cancels its
//!   signal, which every task's own token is a child of. Without a grace
//!   period its tasks are aborted at once; with one, the run loop aborts them
//!   at `cancelled_at + grace`, and each task checks the same instant on every
//!   poll (`grace_deadline`). Nested scopes are failed with `Cancelled` at
//!   once, not when their run loops are next polled.
//! - `stop(Stop::Shutdown)` (`Scope::shutdown`): the same, except that no reason is named: the scope (and
//!   every nested scope, shut down too) ends `Ok` unless something else
//!   fails it.
//! - `abort_tasks`: Tokio's abort for every task, under the lock.
//! - `abort_tree`: the scope's future was dropped: every task of the scope and
//!   of every scope nested in it is aborted at once, and the scope holds its
//!   parent until its aborted tasks are gone (`nest.rs`).
//!
//! The public side, [`Scope::cancel`], [`Scope::shutdown`], [`Scope::signal`],
//! [`Scope::cancelled`] and [`Scope::is_cancelled`], is at the end.
//!
//! Both walks down the tree are loops over a work list, never recursions, and
//! each visits a scope once: a chain of 100,000 nested scopes is cancelled or
//! dropped in linear time on any stack (SPEC.md "depth").

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, Weak};

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::inner::{Inner, State};
use super::Scope;
use crate::error::Reason;
use crate::observe;

/// How a scope is stopped: failed (and so cancelled), or shut down.
#[derive(Clone)]
pub(super) enum Stop {
    /// The scope fails with this reason, unless it failed before.
    Fail(Reason),
    /// A graceful end: cancelled as by `Fail`, but no reason is named.
    Shutdown,
}

impl Inner {
    /// Fails the scope (the first reason wins) and cancels it, and every
    /// scope nested in it.
    pub(super) fn fail(&self, reason: Reason) {
        self.fail_locked(self.lock(), reason);
    }

    /// [`fail`](Self::fail), with the state already locked.
    pub(super) fn fail_locked(&self, state: MutexGuard<'_, State>, reason: Reason) {
        self.stop_locked(state, Stop::Fail(reason));
    }

    /// The scope's signal was found cancelled (by the run loop, or by a
    /// spawn): by `fail` or a shutdown, which did the rest, or by hand
    /// through `Scope::signal`, which is a cancel.
    pub(super) fn signal_cancelled(&self) {
        let state = self.lock();
        if state.reason.is_none() && !state.shut_down {
            self.fail_locked(state, Reason::Cancelled);
        }
    }

    /// Stops the scope as `stop` says: fails it, or shuts it down (SPEC.md
    /// `Scope::shutdown`: cancelled as by a cancel, but it does not fail).
    pub(super) fn stop(&self, stop: Stop) {
        self.stop_locked(self.lock(), stop);
    }

    /// Stops the scope, then every scope nested in it (a failure reaches
    /// them as `Cancelled`), with a loop over a work list.
    fn stop_locked(&self, state: MutexGuard<'_, State>, stop: Stop) {
        let mut nested = Vec::new();
        let mut panic = self.stop_one(state, &stop, &mut nested);
        let below = match stop {
            Stop::Fail(_) => Stop::Fail(Reason::Cancelled),
            Stop::Shutdown => Stop::Shutdown,
        };
        while let Some(scope) = nested.pop() {
            let state = scope.lock();
            let more = scope.stop_one(state, &below, &mut nested);
            panic = panic.or(more);
        }
        observe::resume(panic);
    }

    /// Stops this one scope; pushes its nested scopes onto `nested` unless it
    /// was stopped that way before: a scope that failed (or shut down)
    /// already reached its nested scopes then, and those opened since started
    /// cancelled (`adopt`), so the walk stops there. Its signal and its tasks
    /// are seen to every time (both are idempotent and cheap once done), so
    /// that whoever calls `fail` finds them cancelled when it returns, even
    /// while another thread is still carrying out the first failure.
    fn stop_one(
        &self,
        mut state: MutexGuard<'_, State>,
        stop: &Stop,
        nested: &mut Vec<Arc<Inner>>,
    ) -> Option<observe::Panic> {
        state.accepting = false;
        // A signal cancelled by hand, not noticed yet, was a cancel, and came
        // first: it names the reason, even for a shutdown that follows it.
        let by_hand = state.reason.is_none() && !state.shut_down && self.cancelled_by_hand();
        let first = match stop {
            _ if state.reason.is_some() => None,
            Stop::Shutdown if state.shut_down => None,
            Stop::Shutdown if !by_hand => {
                state.shut_down = true;
                Some(None)
            }
            Stop::Shutdown | Stop::Fail(_) => {
                let reason = match stop {
                    Stop::Fail(reason) if !by_hand => reason.clone(),
                    _ => Reason::Cancelled,
                };
                state.reason = Some(reason.clone());
                Some(Some(reason))
            }
        };
        if first.is_some() {
            nested.extend(state.children.iter().filter_map(Weak::upgrade));
        }
        drop(state);
        // Reported after the unlock (a subscriber is user code), and shielded:
        // should the subscriber panic, the scope is still cancelled, and the
        // panic goes on once the whole walk is done.
        let panic = observe::shielded(|| match &first {
            Some(Some(reason)) => {
                observe::scope_cancelled(self.id, self.name.as_deref(), &self.span, reason);
            }
            Some(None) => observe::scope_shutdown(self.id, self.name.as_deref(), &self.span),
            None => {}
        });
        self.cancelled_at.get_or_init(Instant::now);
        self.token.cancel();
        if self.grace.is_zero() {
            self.abort_tasks();
        }
        panic
    }

    /// When the grace period after the scope's cancellation ends, if it was
    /// cancelled: the run loop aborts every task then, and a task polled
    /// after it stops before its future is polled (a task that blocked its
    /// thread past the deadline, when no timer could fire: bug F in
    /// docs/RELIABILITY.md).
    pub(super) fn grace_deadline(&self) -> Option<Instant> {
        self.cancelled_at.get().map(|at| *at + self.grace)
    }

    /// Aborts every task at its next `.await`; later registrations are aborted at once.
    ///
    /// A task spawned but not registered yet (its spawner is between
    /// `launch`'s spawn and `register`) may already run on another worker:
    /// it sees `aborted` on its next poll and stops there (docs/RELIABILITY.md, bug I).
    pub(super) fn abort_tasks(&self) {
        let mut state = self.lock();
        state.accepting = false;
        // Once is enough: the tasks registered since were aborted by
        // `register`. Checked under the lock the first call aborts under, so
        // a second caller returns only once every task is aborted.
        if self.aborted.swap(true, Ordering::AcqRel) {
            return;
        }
        // Aborted under the lock: whoever sees `aborted` set under the lock
        // (`register`, `adopt`) also sees every task aborted
        // (AbortHandle::abort only flags and schedules the task). A task's
        // poll reads the flag without the lock and may see it a moment
        // early, which only stops that task a moment early.
        // The records stay, for failures reported by aborted tasks whose last
        // poll was under way, and for snapshots.
        for task in state.records.abort_handles() {
            task.abort();
        }
        drop(state);
        // Inline tasks are aborted by their run loop, which drops them.
        self.loop_waker.wake();
    }

    /// Ends the scope at once, when its future is dropped: aborts its tasks
    /// and, at once too, those of every scope nested in it (a nested scope
    /// inside an aborted task would otherwise run until Tokio gets round to
    /// dropping that task).
    ///
    /// Aborted tasks are dropped later, by Tokio. Until the last one is gone
    /// the scope holds a lease on its parent (`hold_parent`), so that an
    /// parent whose task held this one does not end before them
    /// (bug B in docs/RELIABILITY.md). Each scope takes its own lease when its
    /// own future is dropped (this function, from its run loop's guard):
    /// a nested scope's future is dropped with the task or body that holds
    /// it, before that task is counted out of the parent.
    pub(super) fn abort_tree(&self) {
        let mut stack = self.abort_one();
        while let Some(scope) = stack.pop() {
            stack.extend(scope.abort_one());
        }
        self.hold_parent();
    }

    /// Aborts this one scope's tasks (again, if another thread began: it is
    /// done when this returns); its nested scopes, unless its tree was
    /// walked before.
    fn abort_one(&self) -> Vec<Arc<Inner>> {
        // Signal first, as `fail` does: a task that another worker drops as
        // soon as it is aborted must find its token cancelled.
        self.cancelled_at.get_or_init(Instant::now);
        self.token.cancel();
        self.abort_tasks();
        let mut state = self.lock();
        if std::mem::replace(&mut state.tree_aborted, true) {
            return Vec::new();
        }
        let children = state.children.take_all();
        drop(state);
        children.filter_map(|child| child.upgrade()).collect()
    }
}

impl Scope {
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

    /// Shuts the scope down gracefully: as [`cancel`](Self::cancel) (every
    /// task's token is cancelled at once, later spawns are refused, tasks
    /// still running after the grace period are aborted, nested scopes are
    /// shut down too), but it is not a failure. The scope ends `Ok` with its
    /// body's value unless something else fails it (a failure under
    /// [`Policy::Cancel`](crate::Policy::Cancel), a critical failure, the body's `Err`, its timeout).
    /// The tasks it ends yield [`TaskError::Cancelled`](crate::TaskError::Cancelled),
    /// which is not a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use async_scope::{Policy, Scope};
    ///
    /// let served = Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .grace(Duration::from_secs(5))
    ///     .run(|scope| async move {
    ///         let connection = scope.spawn(|signal| async move {
    ///             signal.cancelled().await; // finish the request in flight, then stop
    ///             Ok::<_, std::io::Error>("said goodbye")
    ///         });
    ///         scope.shutdown();
    ///         assert!(scope.is_cancelled());
    ///         assert_eq!(connection.await.unwrap(), "said goodbye");
    ///         Ok::<_, std::io::Error>(42)
    ///     })
    ///     .await
    ///     .unwrap(); // a shutdown is not a failure
    /// assert_eq!(served, 42);
    /// # }
    /// ```
    pub fn shutdown(&self) {
        self.inner.stop(Stop::Shutdown);
    }

    /// Completes once the scope's signal is cancelled: by a cancel, a
    /// shutdown, a failure, its timeout or an ancestor. It owns what it
    /// needs, so it can stand in a `select!` without a temporary.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let _ = async_scope::with_scope(|scope| async move {
    ///     let stopped = scope.cancelled();
    ///     scope.cancel();
    ///     stopped.await; // ready at once
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await;
    /// # }
    /// ```
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.inner.token.clone().cancelled_owned()
    }

    /// Returns `true` if the scope was cancelled: explicitly, by an ancestor,
    /// by a failure, by its timeout, or shut down. A scope that ended normally is not
    /// cancelled (though it refuses new spawns).
    ///
    /// # Examples
    ///
    /// See [`Scope::cancel`].
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Returns the scope's signal: a token that is cancelled when this scope
    /// is cancelled (explicitly, by an ancestor, by a failure or by its timeout).
    ///
    /// Every task's own token is a child of it. Cancelling it by hand is
    /// [`cancel`](Self::cancel), noticed at once: later spawns are refused and
    /// the scope fails with [`Reason::Cancelled`]; its tasks' tokens are
    /// cancelled through the token tree at once, and its nested scopes when
    /// the scope's run loop runs next (it is woken by the cancellation).
    /// [`cancel`](Self::cancel) reaches nested scopes before it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{with_scope, Reason, TaskError};
    ///
    /// let err = with_scope(|scope| async move {
    ///     let signal = scope.signal();
    ///     signal.cancel(); // the same as scope.cancel()
    ///     assert!(scope.is_cancelled());
    ///     let late = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
    ///     assert!(matches!(late.await, Err(TaskError::Cancelled)));
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::Cancelled));
    /// # }
    /// ```
    pub fn signal(&self) -> CancellationToken {
        self.inner.hand_out_signal().clone()
    }
}
