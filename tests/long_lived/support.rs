//! Helpers shared by the rules of SPEC.md "Long-lived scopes (servers) and
//! blocking work": recording handlers, failing tasks, and the shapes of setup
//! and of checks that several rules repeat.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use async_scope::{
    CancellationToken, Policy, Reason, Scope, ScopeBuilder, ScopeError, ScopeSnapshot, TaskFailure,
    TaskState,
};

use crate::common::{self, Flag, Res};

/// The prefix of every panic this binary causes on purpose.
pub(crate) const ON_PURPOSE: &str = "long_lived test panic";

/// How long a real-time test may take before it counts as hung.
pub(crate) const REAL_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Sets its flag when dropped.
pub(crate) struct SetOnDrop(pub(crate) Flag);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// A `shutdown_on` signal that never completes and sets `dropped` when its
/// future is dropped.
pub(crate) fn never_completes(dropped: &Flag) -> impl Future<Output = ()> + Send + 'static {
    let guard = SetOnDrop(dropped.clone());
    async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    }
}

/// An error handler that records every failure's message, in order.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    pub(crate) fn handler(&self) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |failure| seen.lock().unwrap().push(failure.error().to_string())
    }

    pub(crate) fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A `Supervise` scope whose error handler records into `handled`.
pub(crate) fn supervised(handled: &Seen) -> ScopeBuilder {
    Scope::builder()
        .policy(Policy::Supervise)
        .on_error(handled.handler())
}

/// The messages of `failures`, in order.
pub(crate) fn messages(failures: &[TaskFailure]) -> Vec<String> {
    failures.iter().map(|f| f.error().to_string()).collect()
}

/// The failure of `err`'s `Reason::TaskFailed`; panics on any other reason.
pub(crate) fn task_failed(err: &ScopeError) -> &TaskFailure {
    let Reason::TaskFailed(failure) = err.reason() else {
        panic!("expected TaskFailed, got {:?}", err.reason());
    };
    failure
}

/// The failure of `err`'s `Reason::CriticalTaskFailed`; panics on any other
/// reason.
pub(crate) fn critical_task_failed(err: &ScopeError) -> &TaskFailure {
    let Reason::CriticalTaskFailed(failure) = err.reason() else {
        panic!("expected CriticalTaskFailed, got {:?}", err.reason());
    };
    failure
}

/// How many tasks `snapshot` lists as failed.
pub(crate) fn failed_in(snapshot: &ScopeSnapshot) -> usize {
    snapshot
        .tasks()
        .iter()
        .filter(|t| t.state() == TaskState::Failed)
        .count()
}

/// The value of a poll that must be ready; panics with `pending` otherwise.
pub(crate) fn expect_ready<T>(poll: Poll<T>, pending: &str) -> T {
    match poll {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("{pending}"),
    }
}

/// A task that fails with `message` at once.
pub(crate) fn fails(
    message: impl Into<String>,
) -> impl FnOnce(CancellationToken) -> std::future::Ready<Res> + Send + 'static {
    let message = message.into();
    move |_| std::future::ready(Err(message.into()))
}

/// A task that sets `called` when its closure is called and ends `Ok` at
/// once: for spawns that must be refused without calling it.
pub(crate) fn sets(
    called: &Flag,
) -> impl FnOnce(CancellationToken) -> std::future::Ready<Res> + Send + 'static {
    let called = called.clone();
    move |_| {
        called.set();
        std::future::ready(Ok(()))
    }
}

/// A task that waits for its token, then returns `Err(message)`: a failure
/// that happens after the scope was cancelled or shut down.
pub(crate) fn fails_when_signalled(
    message: &'static str,
) -> impl FnOnce(CancellationToken) -> common::Task + Send + 'static {
    move |token| {
        Box::pin(async move {
            token.cancelled().await;
            Err(message.into())
        })
    }
}

/// What a real-time test of a blocking task watches: `returned` is set by
/// the task's closure as it returns, `ended` once the scope's `run` ended.
#[derive(Clone, Default)]
pub(crate) struct BlockingEnd {
    pub(crate) returned: Flag,
    pub(crate) ended: Flag,
}

impl BlockingEnd {
    /// Awaits the scope's `run`, then marks it ended; gives its result and
    /// whether the blocking closure had returned by then.
    pub(crate) async fn watch<T>(self, run: impl Future<Output = T>) -> (T, bool) {
        let result = run.await;
        self.ended.set();
        (result, self.returned.get())
    }
}
