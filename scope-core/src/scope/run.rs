//! The run loop: what a scope's future does from its opening to its end.
//!
//! Each turn polls, in this order: the body (until it returns; inline, in the
//! caller's task), the scope's signal once it was handed out or with a grace
//! period (a cancellation by hand through `signal().cancel()` is noticed
//! here; every other one has failed the scope already), the grace timer (at `cancelled_at + grace`, it aborts the tasks),
//! the shutdown signal (`shutdown_on`), the timeout, then, once the body has returned, the count of live tasks
//! (the task that ends last wakes the loop through `State::run_waker`).
//! Whatever fires starts a new turn, so that a timer it set is polled too.
//!
//! Right after the body, each turn polls the scope's inline tasks, if it has
//! any (`inline.rs`, through [`Inlines`]): they run on this task.
//!
//! Dropping the scope's future before it ends drops its inline tasks, then
//! its [`RunGuard`], which aborts the whole tree at once (`Inner::abort_tree`).

use std::future::{poll_fn, Future};
use std::panic::resume_unwind;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{sleep, sleep_until, Sleep};

use super::cancel::Stop;
use super::inner::Inner;
use super::task_future::Entered;
use super::Scope;
use crate::error::{BoxError, Reason, ScopeError};
use crate::observe;

/// The future a scope shuts down on (`ScopeBuilder::shutdown_on`).
pub(super) type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the run loop polls beside the body: a scope's inline tasks
/// (`inline.rs`), or nothing (`()`) for a scope opened without them.
pub(super) trait Inlines {
    /// Polls the tasks (on each turn of the run loop, after the body).
    fn poll(&mut self, inner: &Inner, cx: &mut Context<'_>);
}

impl Inlines for () {
    fn poll(&mut self, _: &Inner, _: &mut Context<'_>) {}
}

/// Runs `body` in `scope`, with `inline` tasks beside it, until the body and
/// every task have ended.
pub(super) async fn run<F, Fut, T, E, I>(
    scope: Scope,
    timeout: Option<Duration>,
    shutdown_on: Option<ShutdownSignal>,
    body: F,
    inline: I,
) -> Result<T, ScopeError>
where
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    I: Inlines,
{
    let inner = scope.inner.clone();
    let mut guard = RunGuard {
        inner: Some(inner.clone()),
    };
    // Declared after the guard, so dropped before it: the inline tasks go
    // first, then the guard aborts the tree.
    let mut inline = inline;

    let mut body = pin!(Entered::new(scope.clone(), body(scope)));
    let mut body_out = None;
    // The signal is watched once it may be cancelled by hand (handed out
    // through `Scope::signal`), or from the start with a grace period (whose
    // timer starts when the watch fires); until then every cancellation
    // comes from `stop_one` or `abort_one`, which have done the rest.
    let mut signal = pin!(None);
    let mut watching = false;
    let mut timer = pin!(timeout.map(sleep));
    let mut shutdown_on = shutdown_on;
    let mut grace_timer = pin!(None::<Sleep>);

    poll_fn(|cx| {
        if !watching {
            inner.wake_on_signal_out(cx);
        }
        loop {
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
                    body_out = Some(out);
                    inner.body_ended.store(true, Ordering::Release);
                    continue;
                }
            }
            inline.poll(&inner, cx);
            if !watching && inner.must_watch_signal() {
                watching = true;
                signal.set(Some(inner.token.cancelled()));
            }
            if let Some(cancelled) = signal.as_mut().as_pin_mut() {
                if cancelled.poll(cx).is_ready() {
                    signal.set(None);
                    inner.signal_cancelled();
                    if !inner.grace.is_zero() {
                        if let Some(end) = inner.grace_deadline() {
                            grace_timer.set(Some(sleep_until(end)));
                        }
                    }
                    continue;
                }
            }
            if let Some(grace) = grace_timer.as_mut().as_pin_mut() {
                if grace.poll(cx).is_ready() {
                    grace_timer.set(None);
                    inner.abort_tasks();
                    continue;
                }
            }
            if let Some(signal) = shutdown_on.as_mut() {
                if signal.as_mut().poll(cx).is_ready() {
                    shutdown_on = None;
                    inner.stop(Stop::Shutdown);
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
            return inner.poll_all_ended(cx);
        }
    })
    .await;

    guard.inner = None;
    inner.ended.store(true, Ordering::Release);
    // A `Scope` kept after the end must not keep this task's waker.
    drop(inner.loop_waker.take());
    inner.leave_parent();
    let outcome = match body_out {
        Some(Ok(Some(value))) => match inner.reason() {
            None => Ok(value),
            Some(reason) => Err(reason),
        },
        Some(Ok(None)) => Err(inner.reason().unwrap_or(Reason::Cancelled)),
        Some(Err(panic)) => {
            inner.report_end(observe::Outcome::Panicked);
            resume_unwind(panic)
        }
        None => unreachable!("the loop ends only after the body"),
    };
    match outcome {
        Ok(value) => {
            inner.report_end(observe::Outcome::Ok);
            Ok(value)
        }
        Err(reason) => {
            inner.report_end(observe::Outcome::Failed(&reason));
            Err(inner.error(reason))
        }
    }
}

impl Inner {
    /// Whether the run loop must watch the signal from now on (see `run`).
    fn must_watch_signal(&self) -> bool {
        !self.grace.is_zero() || self.signal_handed_out()
    }

    /// Has `cx` woken when the signal is handed out: registered once per
    /// poll of the run loop, before its turns look at `signal_out`.
    fn wake_on_signal_out(&self, cx: &Context<'_>) {
        if self.grace.is_zero() {
            self.loop_waker.register(cx.waker());
        }
    }

    /// Reports how the scope ended.
    fn report_end(&self, outcome: observe::Outcome<'_>) {
        observe::scope_ended(self.id, self.name.as_deref(), &self.span, outcome);
    }
}

/// Ends the scope at once if its future is dropped before `run` returns.
struct RunGuard {
    inner: Option<Arc<Inner>>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.ended.store(true, Ordering::Release);
            drop(inner.loop_waker.take());
            inner.abort_tree();
            inner.leave_parent();
            inner.report_end(observe::Outcome::Dropped);
        }
    }
}
