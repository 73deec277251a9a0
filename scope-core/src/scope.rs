//! [`Scope`], the front door: [`with_scope`], spawning, cancelling and
//! reading a scope through its handle, and [`Scope::current`].
//!
//! A scope's private state and each rule that acts on it live in the files
//! of this module, one rule each: the crate's design table (in `lib.rs`)
//! names them.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::inner::Inner;
use self::spawn::TaskOptions;
use crate::error::{BoxError, ScopeError, TaskFailure};
use crate::handle::{OptionalHandle, TaskHandle};
use crate::ids::{ScopeId, TaskName};
use crate::policy::{Policy, TaskKind};
use crate::snapshot::ScopeSnapshot;

mod builder;
mod cancel;
mod failure;
mod handler;
mod inline;
mod inner;
mod local;
mod nest;
mod records;
mod reserve;
mod run;
mod slab;
mod snapshot;
mod spawn;
mod task_builder;
mod task_future;

pub use self::builder::ScopeBuilder;
pub use self::inline::Inline;
pub use self::reserve::SpawnPermit;
pub use self::task_builder::TaskBuilder;

thread_local! {
    /// The scope whose body or task is being polled on this thread.
    static CURRENT: Cell<Option<Scope>> = const { Cell::new(None) };
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

/// Runs `body` in a new scope with the default options, with an [`Inline`]
/// handle whose tasks may borrow anything that outlives this call.
///
/// Same as `Scope::builder().run_inline(body)`; see [`ScopeBuilder::run_inline`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::with_scope_inline;
///
/// let lines = &vec!["a b", "c", "d e f"];
/// let words = with_scope_inline(|_scope, inline| async move {
///     let counts: Vec<_> = lines
///         .iter()
///         .map(|line| inline.spawn(move |_| async move {
///             Ok::<_, std::io::Error>(line.split(' ').count())
///         }))
///         .collect();
///     let mut words = 0;
///     for count in counts {
///         words += count.await?;
///     }
///     Ok::<_, async_scope::TaskError>(words)
/// })
/// .await
/// .unwrap();
/// assert_eq!(words, 6);
/// # }
/// ```
///
/// # Panics
///
/// As [`with_scope`].
///
/// # Cancel safety
///
/// Dropping the future drops every inline task with it and aborts every
/// other task at once: none is polled again.
pub async fn with_scope_inline<'env, F, Fut, T, E>(body: F) -> Result<T, ScopeError>
where
    F: FnOnce(Scope, Inline<'env>) -> Fut,
    Fut: Future<Output = Result<T, E>> + 'env,
    E: Into<BoxError>,
{
    ScopeBuilder::default().run_inline(body).await
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
    inner: Arc<Inner>,
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
            .try_with(|current| {
                let scope = current.take();
                let copy = scope.clone();
                current.set(scope);
                copy
            })
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
    /// `task` is called with the task's own [`CancellationToken`] (a child of
    /// the scope's [`signal`](Self::signal): cancelling it reaches this task
    /// alone) once the task may start (at once, or when a [`max_concurrency`](ScopeBuilder::max_concurrency)
    /// slot frees up). If the scope was cancelled or has ended, `task` is never
    /// called and the handle yields [`TaskError::Cancelled`](crate::TaskError::Cancelled). `spawn` never blocks.
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
    /// it with [`Reason::CriticalTaskFailed`](crate::Reason::CriticalTaskFailed), under either policy.
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
    pub fn spawn_named<F, Fut, T, E>(&self, name: impl Into<TaskName>, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn(TaskOptions::new(TaskKind::Normal, Some(name.into())), task)
    }

    /// Runs a blocking closure on Tokio's blocking pool as a task of this
    /// scope: policies, handlers, [`errors`](Self::errors) and joins treat it
    /// as any task, and a panic in it is [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// Tokio cannot abort a blocking closure once it runs: cancellation
    /// cancels its token, which `task` should check, and the scope waits for
    /// it (even when the scope's future is dropped, its parent does).
    /// If the scope was cancelled or has ended, `task` is never called and the
    /// handle yields `Cancelled`. It takes a
    /// [`max_concurrency`](ScopeBuilder::max_concurrency) slot as any task
    /// (waiting for it on its blocking thread, in spawn order).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let digest = scope.spawn_blocking(|signal| {
    ///         let mut sum = 0u64;
    ///         for chunk in 0..1_000u64 {
    ///             if signal.is_cancelled() {
    ///                 return Err("cancelled mid-way");
    ///             }
    ///             sum += chunk; // CPU-bound work
    ///         }
    ///         Ok(sum)
    ///     });
    ///     assert_eq!(digest.await?, 499_500);
    ///     Ok::<_, async_scope::TaskError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn_blocking(TaskOptions::new(TaskKind::Normal, None), task)
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
    /// happened (only the most recent ones, with
    /// [`retain_failures`](ScopeBuilder::retain_failures)). Cancellation is
    /// not a failure.
    ///
    /// # Examples
    ///
    /// See [`Scope::wait_for_completion`].
    pub fn errors(&self) -> Vec<TaskFailure> {
        self.inner.failures()
    }

    /// Returns how many of the scope's tasks have failed so far, of every
    /// kind, whether [`errors`](Self::errors) still holds them or not.
    ///
    /// # Examples
    ///
    /// See [`ScopeBuilder::retain_failures`].
    pub fn failure_count(&self) -> usize {
        self.inner.failure_count()
    }
}

/// Shows the scope's [`snapshot`](Scope::snapshot) tree.
impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.snapshot(), f)
    }
}
