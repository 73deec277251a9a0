//! [`TaskBuilder`]: a task with options, spawned by one of the scope's `spawn` methods.

use std::fmt;
use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::spawn::TaskOptions;
use super::Scope;
use crate::error::BoxError;
use crate::handle::{OptionalHandle, TaskHandle};
use crate::ids::TaskName;
use crate::policy::TaskKind;

/// Options for one task (a name), then one of the `spawn` methods, which
/// follow [`Scope`]'s own: same bounds, same rules.
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
///         scope.task().name("metrics").spawn_optional(|_| async { Err::<(), _>("statsd down") });
///         scope.wait_for_completion().await?;
///         assert_eq!(scope.errors()[0].name(), Some("metrics"));
///         Ok::<_, async_scope::ScopeError>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[must_use = "a task builder does nothing until one of its `spawn` methods is called"]
pub struct TaskBuilder<'a> {
    scope: &'a Scope,
    name: Option<TaskName>,
}

impl<'a> TaskBuilder<'a> {
    pub(super) fn new(scope: &'a Scope) -> Self {
        TaskBuilder { scope, name: None }
    }

    /// Names the task: the name appears in its failure, in snapshots, in
    /// tracing and in `ASYNC_SCOPE_DEBUG` lines.
    ///
    /// # Examples
    ///
    /// See [`TaskBuilder`].
    pub fn name(mut self, name: impl Into<TaskName>) -> Self {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn options(self, kind: TaskKind) -> (&'a Scope, TaskOptions) {
        (self.scope, TaskOptions::new(kind, self.name))
    }

    /// Spawns the task, as [`Scope::spawn`].
    ///
    /// # Examples
    ///
    /// See [`Scope::task`].
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Normal);
        scope.inner.spawn(options, task)
    }

    /// Spawns the task as a critical one, as [`Scope::spawn_critical`].
    ///
    /// # Examples
    ///
    /// See [`Scope::task`].
    #[track_caller]
    pub fn spawn_critical<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Critical);
        scope.inner.spawn(options, task)
    }

    /// Spawns the task as an optional one, as [`Scope::spawn_optional`].
    ///
    /// # Examples
    ///
    /// See [`TaskBuilder`].
    #[track_caller]
    pub fn spawn_optional<F, Fut, T, E>(self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Optional);
        OptionalHandle::new(scope.inner.spawn(options, task))
    }

    /// Runs a blocking closure on Tokio's blocking pool, as
    /// [`Scope::spawn_blocking`] does, with this builder's name.
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
    ///         scope.task().name("checksum").spawn_blocking(|_| Err::<u32, _>("disk read failed"));
    ///         scope.wait_for_completion().await?;
    ///         assert_eq!(scope.errors()[0].name(), Some("checksum"));
    ///         Ok::<_, async_scope::ScopeError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Normal);
        scope.inner.spawn_blocking(options, task)
    }

    /// Runs a blocking closure as a critical task: as
    /// [`spawn_blocking`](Self::spawn_blocking), and its failure fails the
    /// scope as [`Scope::spawn_critical`]'s does.
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
    ///         scope.task().name("fsync").spawn_blocking_critical(|_| Err::<(), _>("disk full"));
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking_critical<F, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Critical);
        scope.inner.spawn_blocking(options, task)
    }

    /// Runs a blocking closure as an optional task: as
    /// [`spawn_blocking`](Self::spawn_blocking), and its failure yields
    /// `None` and never fails the scope, as [`Scope::spawn_optional`]'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let thumbnail = scope.task().name("thumbnail").spawn_blocking_optional(|_| Err::<(), _>("bad image"));
    ///     assert_eq!(thumbnail.await, None);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking_optional<F, T, E>(self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Optional);
        OptionalHandle::new(scope.inner.spawn_blocking(options, task))
    }

    /// Spawns the task onto the current `LocalSet`, as [`Scope::spawn_local`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tokio::task::LocalSet::new()
    ///     .run_until(async_scope::with_scope(|scope| async move {
    ///         let ui = std::rc::Rc::new("redraw");
    ///         let task = scope.task().name("ui").spawn_local(move |_| async move {
    ///             Ok::<_, std::io::Error>(ui.len())
    ///         });
    ///         assert_eq!(task.await?, 6);
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
    pub fn spawn_local<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Normal);
        scope.inner.spawn_local(options, task)
    }

    /// Spawns the task onto the current `LocalSet` as a critical one, as
    /// [`Scope::spawn_local_critical`].
    ///
    /// # Examples
    ///
    /// See [`Scope::spawn_local_critical`].
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local_critical<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Critical);
        scope.inner.spawn_local(options, task)
    }

    /// Spawns the task onto the current `LocalSet` as an optional one, as
    /// [`Scope::spawn_local_optional`].
    ///
    /// # Examples
    ///
    /// See [`Scope::spawn_local_optional`].
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local_optional<F, Fut, T, E>(self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        let (scope, options) = self.options(TaskKind::Optional);
        OptionalHandle::new(scope.inner.spawn_local(options, task))
    }
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("scope", &self.scope.id())
            .field("name", &self.name)
            .finish()
    }
}
