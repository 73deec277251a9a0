//! The state every handle of one scope shares (`Inner`), its lock (`State`),
//! and the task count: admitting a task, counting it out.
//!
//! The other files of `scope/` each add the methods of one rule to `Inner`;
//! this one holds the data and the invariants they rely on:
//!
//! - All mutable state sits behind one mutex per scope (`State`), taken twice
//!   per task by the spawning thread (`count_in`, `register`), as `JoinSet`
//!   takes its own. While more than a few tasks are live, a task's end does
//!   not take it (but for a failure, which is reported under it, and a
//!   cancellation a tracing subscriber asks about): it logs its end
//!   (`records.rs`) and counts itself out of `live`, an atomic, so the
//!   workers that end tasks do not wait for the thread spawning them.
//!   The lock is never held while user code runs (error handlers and
//!   tracing subscribers are called after the unlock).
//! - Lock order: `State` → a token's lock, `State` → the end log's, and a
//!   nested scope's `State` → its parent's.
//! - `live` counts tasks whose future still exists, plus the leases nested
//!   scopes hold on it (`nest.rs`); the scope's `run` ends when it is zero.
//!   It only grows under the lock: a task's count where `accepting` is
//!   read, a lease where the nested scope's holds it.
//! - `accepting` goes false once, when the scope is cancelled, fails, is shut
//!   down, has its tasks aborted, or ends; a refused spawn never calls its
//!   closure.
//! - Chains of nested scopes can be deep (SPEC.md "depth"): nothing here
//!   recurses along `parent` (see `count_out` and `Drop for Inner`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::handler::Handler;
use super::records::{End, EndLog, Records, TaskRecord};
use super::slab::Slab;
use crate::error::{Reason, ScopeError, TaskFailure};
use crate::ids::{ScopeId, TaskId, TaskMeta, TaskName};
use crate::limit::Slots;
use crate::observe::{self, ScopeSpan};
use crate::policy::{Policy, TaskKind};

/// The state every handle of one scope shares.
pub(crate) struct Inner {
    pub(super) id: ScopeId,
    pub(super) name: Option<Arc<str>>,
    pub(super) policy: Policy,
    pub(super) grace: Duration,
    /// How many failures `State::failures` keeps (`retain_failures`).
    pub(super) retain: usize,
    /// The scope's signal: cancelled when the scope is cancelled. Each task's
    /// token is a child of it. Not a child of the parent's: an ancestor's
    /// cancellation arrives through `State::children` (`cancel.rs`).
    pub(super) token: CancellationToken,
    /// `token` was handed out (`Scope::signal`): it may be cancelled by
    /// hand, which only the run loop's watch and the checks for a signal
    /// "cancelled by hand, not noticed yet" find. Until then every
    /// cancellation of `token` comes from `stop_one` or `abort_one`, which do
    /// everything the watch would, so the run loop watches the signal only
    /// once it was handed out or the scope has a grace period (`run.rs`).
    pub(super) signal_out: AtomicBool,
    /// The run loop's waker for what reaches it through no future it polls:
    /// the signal handed out (`signal_out` set: the loop starts watching
    /// it), an inline task spawned, the tasks aborted (the loop drops its
    /// inline tasks). Registered by the run loop while it may need one of
    /// these, taken out when it ends.
    pub(super) loop_waker: AtomicWaker,
    /// When the scope was cancelled: its grace period runs from here, on one
    /// clock for the run loop's abort and for each task's own check.
    pub(super) cancelled_at: OnceLock<Instant>,
    /// Every task has been aborted (`abort_tasks`): a task registered later is
    /// aborted at once, and a task polled later stops before its future is
    /// polled. Written under the `State` lock.
    pub(super) aborted: AtomicBool,
    /// The parent scope, for error handlers and the parent lease. Parents
    /// never point to children (only weakly, in `State::children`).
    pub(super) parent: Option<Arc<Inner>>,
    /// This scope's slot in its parent's `State::children` (`nest.rs`),
    /// written and read under the parent's lock.
    pub(super) slot_in_parent: AtomicUsize,
    pub(super) handler: Option<Handler>,
    pub(super) slots: Option<Arc<Slots>>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) state: Mutex<State>,
    /// Tasks whose future still exists, plus the leases nested scopes hold
    /// on this one (`nest.rs`); the scope's `run` ends when it is zero.
    /// Counted in under the lock (where `accepting` is read, so a refused
    /// spawn never counts) and out with or without it (`task_ended`); the
    /// count that reaches zero takes the lock to hand over what waits for
    /// zero (`count_out_one`).
    pub(super) live: AtomicUsize,
    /// The ends of tasks the records have not taken in yet (`records.rs`).
    pub(super) ends: EndLog,
    /// Notified when `live` drops to zero, if `wait_for_completion`
    /// waits (the run loop is woken through `State::run_waker`).
    pub(super) all_done: Notify,
    /// Where the scope was opened: a snapshot draws the scope under its
    /// parent's task that runs it.
    pub(super) opened_in: OpenedIn,
    /// Set when the body has returned: the scope waits for its last tasks.
    pub(super) body_ended: AtomicBool,
    /// Set when the scope's `run` has returned or its future was dropped:
    /// snapshots leave it out from then on.
    pub(super) ended: AtomicBool,
    /// When the scope was opened (Tokio's clock), for snapshots.
    pub(super) opened: Instant,
    /// The scope's tracing span; see `observe`.
    pub(crate) span: ScopeSpan,
}

/// Where a scope was opened, so that a snapshot draws it under its parent's
/// task that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpenedIn {
    /// An inline task of the parent (`inline.rs`), by its id.
    Inline(TaskId),
    /// A Tokio task: the parent's body or one of its spawned tasks.
    Tokio(tokio::task::Id),
    /// Outside any Tokio task.
    Nowhere,
}

pub(super) struct State {
    /// The scope admits spawns: false once it was cancelled, failed or ended.
    pub(super) accepting: bool,
    /// The tasks' records (`records.rs`).
    pub(super) records: Records,
    /// The run loop's waker, once its body has ended and it waits for the last task.
    pub(super) run_waker: Option<Waker>,
    /// How many `wait_for_completion` calls wait on `all_done`.
    pub(super) completion_waiters: usize,
    /// Nested scopes that have not ended: each leaves when its `run`
    /// returns or its future is dropped (`nest.rs`).
    pub(super) children: Slab<Weak<Inner>>,
    /// The scope was shut down (`Inner::shutdown`): its signal is cancelled,
    /// yet that is no reason to fail.
    pub(super) shut_down: bool,
    /// This scope's tree was aborted (`abort_tree`): a nested scope opened
    /// later starts cancelled, and a second walk stops here.
    pub(super) tree_aborted: bool,
    /// This scope's future was dropped before its last task was gone, and it
    /// holds a live count on its parent until then (`nest.rs`).
    pub(super) holds_parent: bool,
    /// The most recent failures, in order: at most `Inner::retain`.
    pub(super) failures: VecDeque<TaskFailure>,
    /// Every failure so far, retained or not.
    pub(super) failure_count: usize,
    /// The first event that failed the scope.
    pub(super) reason: Option<Reason>,
}

impl State {
    pub(super) fn new() -> State {
        State {
            accepting: true,
            records: Records::new(),
            run_waker: None,
            completion_waiters: 0,
            children: Slab::new(),
            shut_down: false,
            tree_aborted: false,
            holds_parent: false,
            failures: VecDeque::new(),
            failure_count: 0,
            reason: None,
        }
    }
}

/// While more tasks than this are live, a task's end is logged
/// (`records.rs`) rather than taken under the scope's lock: a scope with
/// few tasks sees little contention, and its last task takes the lock
/// anyway, so it does not pay for the log.
const LOGGED_ENDS_ABOVE: usize = 8;

/// What a task owes its scope once it is counted out: waking the run loop if
/// it was the last task. Done after the task has dropped its `Scope`, so that
/// the run loop, on the owner's thread, usually drops the scope's last
/// reference itself: the scope's state (and its tasks' records, holding the
/// last reference to their Tokio cells) is then freed on the thread that
/// allocated it (docs/BENCHMARKS.md).
#[must_use = "wake the run loop once the task's scope is dropped"]
pub(super) struct CountedOut {
    run_waker: Option<Waker>,
    /// A panic of the tracing subscriber while the end was reported,
    /// resumed once the task is counted out and the run loop woken.
    panic: Option<observe::Panic>,
}

impl CountedOut {
    pub(super) fn wake(self) {
        if let Some(waker) = self.run_waker {
            waker.wake();
        }
        observe::resume(self.panic);
    }
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock, so poison can only come from a
        // panic in our own bookkeeping; the state is still consistent then.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new task in and records it, or `None` if the scope refuses
    /// spawns. The record's abort handle comes with `register`.
    pub(super) fn count_in(
        &self,
        kind: TaskKind,
        name: Option<&TaskName>,
        location: &'static std::panic::Location<'static>,
        inline: bool,
    ) -> Option<TaskId> {
        let spawned = self.since_opened(Instant::now());
        let mut state = self.lock();
        if !state.accepting {
            return None;
        }
        // Counted in under the lock that `accepting` is read under; see `live`.
        self.live.fetch_add(1, Ordering::Relaxed);
        // Taken under the lock, so that the records stay in id order.
        let id = TaskId::next();
        let record = TaskRecord {
            id,
            abort: None,
            location,
            spawned,
            kind,
            inline,
            failed: false,
            ended: false,
        };
        state.records.push(record, name, &self.ends);
        Some(id)
    }

    /// Keeps a spawned task's abort handle in its record; a task registered
    /// after `abort_tasks` is aborted at once.
    pub(super) fn register(&self, id: TaskId, task: AbortHandle) {
        let mut state = self.lock();
        if self.aborted.load(Ordering::Relaxed) {
            task.abort();
        }
        state.records.set_abort(id, task);
    }

    /// Drops the record of a task that could not be spawned (its future was
    /// dropped, which counted it out).
    pub(super) fn forget(&self, id: TaskId) {
        self.lock().records.remove(id);
    }

    /// Whether the signal is cancelled and may have been by hand: never
    /// before `Scope::signal` handed it out (then only `stop_one` and
    /// `abort_one` cancel it, and they record why).
    pub(super) fn cancelled_by_hand(&self) -> bool {
        self.signal_handed_out() && self.token.is_cancelled()
    }

    /// Whether `Scope::signal` has handed the signal out (see `signal_out`).
    pub(super) fn signal_handed_out(&self) -> bool {
        self.signal_out.load(Ordering::Acquire)
    }

    /// Hands the signal out (`Scope::signal`): from now on it may be
    /// cancelled by hand, so the run loop starts watching it.
    pub(super) fn hand_out_signal(&self) -> &CancellationToken {
        if !self.signal_out.load(Ordering::Relaxed) {
            self.signal_out.store(true, Ordering::Release);
            self.loop_waker.wake();
        }
        &self.token
    }

    /// Whether the scope still accepts spawns.
    pub(super) fn accepts_spawns(&self) -> bool {
        self.lock().accepting
    }

    /// How long after the scope opened `at` is, in nanoseconds (a record's
    /// spawn time, in 8 bytes rather than an `Instant`'s 16).
    pub(super) fn since_opened(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.opened).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The task's kind, name and location, from its record.
    pub(super) fn meta(&self, id: TaskId) -> Option<TaskMeta> {
        self.lock().records.meta(id)
    }

    /// Whether the scope's tasks must stop now: checked by each task before
    /// its future is polled (see `abort_tasks`).
    pub(super) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Called when a task's future completed, or was dropped before it did
    /// (`Cancelled`), with how it ended. The task wakes the run loop with
    /// the returned [`CountedOut`] once it has let go of its `Scope`.
    pub(super) fn task_ended(&self, id: TaskId, end: End) -> CountedOut {
        // Should the subscriber panic, the task is still counted out, and
        // the panic goes on from `CountedOut::wake`.
        let panic = (end == End::Cancelled)
            .then(|| {
                observe::shielded(|| {
                    observe::task_cancelled(self.id, self.name.as_deref(), &self.span, || {
                        self.meta(id)
                    });
                })
            })
            .flatten();
        let run_waker = if self.live.load(Ordering::Relaxed) > LOGGED_ENDS_ABOVE {
            // Not under the scope's lock, which the spawner takes (`records.rs`).
            self.ends.push(id, end);
            self.count_out(None)
        } else {
            // One of the last few: under the lock the last count takes.
            let mut state = self.lock();
            state.records.end(id, end);
            self.count_out(Some(state))
        };
        CountedOut { run_waker, panic }
    }

    /// Counts one live task (or a nested scope's lease) out, under `state`
    /// if the caller holds it. The last one wakes any `wait_for_completion`
    /// and gives back this scope's own lease on its parent, which may be
    /// that parent's last: a loop up the chain, not a recursion. Returns
    /// this scope's run loop's waker.
    fn count_out(&self, state: Option<MutexGuard<'_, State>>) -> Option<Waker> {
        let (run_waker, mut lease) = self.count_out_one(state);
        while let Some(scope) = lease {
            let (waker, next) = scope.count_out_one(None);
            if let Some(waker) = waker {
                waker.wake();
            }
            lease = next;
        }
        run_waker
    }

    /// One step of [`count_out`](Self::count_out): the run loop's waker if
    /// this was the last count, and the parent whose lease was given back.
    /// Only the last count needs the lock.
    fn count_out_one(
        &self,
        state: Option<MutexGuard<'_, State>>,
    ) -> (Option<Waker>, Option<&Inner>) {
        let before = self.live.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(
            before > 0,
            "scope {}: counted out more than counted in",
            self.id
        );
        if before > 1 {
            return (None, None);
        }
        let mut state = state.unwrap_or_else(|| self.lock());
        if self.live.load(Ordering::Acquire) > 0 {
            // Counted in since (a task admitted, or a nested scope's lease),
            // between the count and the lock: it counts out last. (Never so
            // when the caller held the lock throughout.)
            return (None, None);
        }
        let release = std::mem::take(&mut state.holds_parent);
        let run_waker = state.run_waker.take();
        let completion_waiters = state.completion_waiters > 0;
        drop(state);
        if completion_waiters {
            self.all_done.notify_waiters();
        }
        let parent = if release {
            self.parent.as_deref()
        } else {
            None
        };
        (run_waker, parent)
    }

    /// The run loop's last wait: stops admitting once no task is left, or
    /// keeps the run loop's waker for the task that ends last.
    pub(super) fn poll_all_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if self.live.load(Ordering::Acquire) == 0 {
            state.accepting = false;
            // The last count may still be on its way to the lock (it counts
            // out first): it must find no waker of a future that is done.
            state.run_waker = None;
            return Poll::Ready(());
        }
        match &state.run_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.run_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until no task is left (`wait_for_completion`).
    pub(super) fn all_ended(&self) -> impl Future<Output = ()> + '_ {
        /// Counts a waiter in `State::completion_waiters` while it waits.
        struct Waiter<'a>(&'a Inner);
        impl Drop for Waiter<'_> {
            fn drop(&mut self) {
                self.0.lock().completion_waiters -= 1;
            }
        }
        async move {
            self.lock().completion_waiters += 1;
            let _waiter = Waiter(self);
            loop {
                let mut notified = pin!(self.all_done.notified());
                notified.as_mut().enable();
                if self.live.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Why the scope failed, if it did (a signal cancelled by hand counts
    /// even before the run loop has noticed it).
    pub(super) fn reason(&self) -> Option<Reason> {
        let state = self.lock();
        let by_hand = !state.shut_down && self.cancelled_by_hand();
        state
            .reason
            .clone()
            .or_else(|| by_hand.then_some(Reason::Cancelled))
    }

    pub(super) fn error(&self, reason: Reason) -> ScopeError {
        ScopeError::new(reason, self.failures(), self.name.clone())
    }

    /// The retained failures, oldest first.
    pub(super) fn failures(&self) -> Vec<TaskFailure> {
        self.lock().failures.iter().cloned().collect()
    }

    pub(super) fn failure_count(&self) -> usize {
        self.lock().failure_count
    }
}

impl Drop for Inner {
    /// Gives back the parent without recursing: a nested scope's state may
    /// hold the last reference to its parent's, and that one to its own
    /// parent's, as deep as the chain of scopes goes (SPEC.md "depth").
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(inner) = parent {
            parent = match Arc::into_inner(inner) {
                // The last reference: take its parent before it drops.
                Some(mut inner) => inner.parent.take(),
                None => None,
            };
        }
    }
}
