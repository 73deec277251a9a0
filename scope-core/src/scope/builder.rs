//! [`ScopeBuilder`]: a scope's options, and opening the scope (its state,
//! its place under the current scope) before its run loop (`run.rs`) starts.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::handler::Handler;
use super::inline::{self, Inline};
use super::inner::{Inner, OpenedIn, State};
use super::records::EndLog;
use super::run::{self, ShutdownSignal};
use super::Scope;
use crate::error::{BoxError, ScopeError, TaskFailure};
use crate::ids::ScopeId;
use crate::limit::Slots;
use crate::observe;
use crate::policy::Policy;

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
    retain_failures: Option<usize>,
    handler: Option<Handler>,
    /// Behind a mutex only so that the builder stays `Sync`.
    shutdown_on: Option<Mutex<ShutdownSignal>>,
}

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

    /// Cancels the scope and fails it with [`Reason::TimedOut`](crate::Reason::TimedOut) when `after`
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

    /// Keeps only the `limit` most recent failures in [`Scope::errors`],
    /// [`ScopeError::failures`] and snapshots (`0` keeps none; by default all
    /// are kept), so that a scope that lives as long as a server holds memory
    /// flat however many of its tasks fail.
    ///
    /// Nothing else changes: every failure still counts in
    /// [`Scope::failure_count`], still goes to its error handler once, and
    /// the failure that decided a scope's [`Reason`](crate::Reason) stays in it.
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
    ///     .retain_failures(2)
    ///     .run(|scope| async move {
    ///         for i in 0..5 {
    ///             scope.spawn(move |_| async move { Err::<(), _>(format!("bad request {i}")) });
    ///         }
    ///         scope.wait_for_completion().await?;
    ///         let kept: Vec<String> = scope.errors().iter().map(|f| f.error().to_string()).collect();
    ///         assert_eq!(kept, ["bad request 3", "bad request 4"]);
    ///         assert_eq!(scope.failure_count(), 5);
    ///         Ok::<_, async_scope::ScopeError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn retain_failures(mut self, limit: usize) -> Self {
        self.retain_failures = Some(limit);
        self
    }

    /// Shuts the scope down, as [`Scope::shutdown`] does, when `signal`
    /// completes: `tokio::signal::ctrl_c()`, a channel, a timer. The scope
    /// polls `signal` itself, and drops it when the scope ends. Its output is
    /// ignored: a `ctrl_c()` that fails to install its handler completes with
    /// an `Err` at once, and shuts the scope down too.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use async_scope::{Policy, Scope};
    /// use tokio::sync::oneshot;
    ///
    /// let (stop, stopped) = oneshot::channel::<()>();
    /// // In a server: `.shutdown_on(tokio::signal::ctrl_c())`.
    /// let served = Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .shutdown_on(stopped)
    ///     .run(|scope| async move {
    ///         stop.send(()).unwrap();
    ///         scope.cancelled().await; // the accept loop's `select!` arm
    ///         Ok::<_, std::io::Error>("stopped accepting")
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(served, "stopped accepting");
    /// # }
    /// ```
    #[must_use]
    pub fn shutdown_on<S>(mut self, signal: S) -> Self
    where
        S: Future + Send + 'static,
    {
        let signal: ShutdownSignal = Box::pin(async move {
            signal.await;
        });
        self.shutdown_on = Some(Mutex::new(signal));
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
        self.handler = Some(Handler::new(handler));
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
    /// See [`Reason`](crate::Reason) for the causes.
    ///
    /// # Panics
    ///
    /// Panics if polled outside a Tokio runtime. If the body panics, the scope
    /// is cancelled and its tasks joined, then the panic continues.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts every task at once: none is polled again.
    pub async fn run<F, Fut, T, E>(mut self, body: F) -> Result<T, ScopeError>
    where
        F: FnOnce(Scope) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let (timeout, shutdown_on) = self.run_options();
        run::run(self.open(), timeout, shutdown_on, body, ()).await
    }

    /// Runs `body` in a new scope with these options, as [`run`](Self::run),
    /// with an [`Inline`] handle beside the [`Scope`]: the body may spawn
    /// *inline* tasks, which run on the task awaiting the scope and may
    /// borrow anything that outlives this call (SPEC.md "Inline tasks").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use async_scope::{Reason, Scope};
    ///
    /// let hosts = &vec!["db".to_string(), "cache".to_string()];
    /// let err = Scope::builder()
    ///     .timeout(Duration::from_secs(1))
    ///     .run_inline(|_scope, inline| async move {
    ///         for host in hosts {
    ///             inline.spawn(move |_| async move {
    ///                 if host == "cache" {
    ///                     std::future::pending::<()>().await; // never answers
    ///                 }
    ///                 Ok::<_, std::io::Error>(())
    ///             });
    ///         }
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::TimedOut));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every inline task with it and aborts every
    /// other task at once: none is polled again.
    pub async fn run_inline<'env, F, Fut, T, E>(mut self, body: F) -> Result<T, ScopeError>
    where
        F: FnOnce(Scope, Inline<'env>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'env,
        E: Into<BoxError>,
    {
        let (timeout, shutdown_on) = self.run_options();
        let scope = self.open();
        let (inline, tasks) = Inline::new(&scope);
        let body = move |scope| body(scope, inline);
        run::run(scope, timeout, shutdown_on, body, tasks).await
    }

    /// The options the run loop keeps.
    fn run_options(&mut self) -> (Option<Duration>, Option<ShutdownSignal>) {
        let shutdown_on = self
            .shutdown_on
            .take()
            .map(|signal| signal.into_inner().unwrap_or_else(PoisonError::into_inner));
        (self.timeout, shutdown_on)
    }

    /// Opens the scope: its state, and its place under the current scope.
    fn open(self) -> Scope {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(_) => panic!(
                "async-scope needs a Tokio runtime: run scopes inside `#[tokio::main]`, \
                 `#[tokio::test]` or `Runtime::block_on`"
            ),
        };
        let parent = Scope::current().map(|scope| scope.inner);
        let opened_in = opened_in(parent.as_ref().map(|p| p.id));
        let id = ScopeId::next();
        let span = observe::scope_opened(
            id,
            self.name.as_deref(),
            self.policy,
            parent.as_ref().map(|p| (p.id, &p.span)),
        );
        let inner = Arc::new(Inner {
            id,
            name: self.name,
            policy: self.policy,
            grace: self.grace,
            retain: self.retain_failures.unwrap_or(usize::MAX),
            // Not a child of the parent's token: cancellation reaches nested
            // scopes through the parent's `children` (see `nest.rs`), which
            // spares every nested scope a node in its parent's token tree.
            token: CancellationToken::new(),
            signal_out: AtomicBool::new(false),
            loop_waker: AtomicWaker::new(),
            cancelled_at: OnceLock::new(),
            aborted: AtomicBool::new(false),
            parent,
            slot_in_parent: AtomicUsize::new(usize::MAX),
            handler: self.handler,
            slots: self.max_concurrency.map(Slots::new),
            runtime,
            state: Mutex::new(State::new()),
            live: AtomicUsize::new(0),
            ends: EndLog::new(),
            all_done: Notify::new(),
            opened_in,
            body_ended: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            opened: Instant::now(),
            span,
        });
        if let Some(parent) = &inner.parent {
            // Opened under an ancestor that was already cancelled or shut down.
            if let Some(stop) = parent.adopt(&inner) {
                inner.stop(stop);
            }
        }
        Scope { inner }
    }
}

/// Where a scope whose parent is `parent` is being opened: in one of the
/// parent's inline tasks, or in a Tokio task.
fn opened_in(parent: Option<ScopeId>) -> OpenedIn {
    match (parent, inline::running()) {
        (Some(parent), Some((scope, task))) if scope == parent => OpenedIn::Inline(task),
        _ => tokio::task::try_id().map_or(OpenedIn::Nowhere, OpenedIn::Tokio),
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
            .field("retain_failures", &self.retain_failures)
            .field("on_error", &self.handler.is_some())
            .field("shutdown_on", &self.shutdown_on.is_some())
            .finish()
    }
}
