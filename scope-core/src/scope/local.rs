//! `!Send` tasks: the `spawn_local` forms of [`Scope`], which spawn onto
//! the current `tokio::task::LocalSet` through the same engine path as
//! `spawn` (`Inner::spawn_local` in `spawn.rs`).

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::spawn::TaskOptions;
use super::Scope;
use crate::error::BoxError;
use crate::handle::{OptionalHandle, TaskHandle};
use crate::policy::TaskKind;

impl Scope {
    /// Spawns a task that need not be `Send` onto the current
    /// [`LocalSet`](tokio::task::LocalSet), with the same rules as
    /// [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::rc::Rc;
    ///
    /// let local = tokio::task::LocalSet::new();
    /// local
    ///     .run_until(async_scope::with_scope(|scope| async move {
    ///         let shared = Rc::new(20); // not Send
    ///         let task = scope.spawn_local(move |_| async move { Ok::<_, std::io::Error>(*shared + 1) });
    ///         assert_eq!(task.await?, 21);
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
    pub fn spawn_local<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn_local(TaskOptions::new(TaskKind::Normal, None), task)
    }

    /// Spawns a critical task that need not be `Send` onto the current
    /// `LocalSet`, as [`spawn_critical`](Self::spawn_critical).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Reason, Scope};
    ///
    /// let local = tokio::task::LocalSet::new();
    /// let err = local
    ///     .run_until(Scope::builder().run(|scope| async move {
    ///         scope.spawn_local_critical(|_| async { Err::<(), _>(std::rc::Rc::new("no")).map_err(|e| e.to_string()) });
    ///         Ok::<_, std::io::Error>(())
    ///     }))
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local_critical<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        self.inner
            .spawn_local(TaskOptions::new(TaskKind::Critical, None), task)
    }

    /// Spawns an optional task that need not be `Send` onto the current
    /// `LocalSet`, as [`spawn_optional`](Self::spawn_optional).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let local = tokio::task::LocalSet::new();
    /// local
    ///     .run_until(async_scope::with_scope(|scope| async move {
    ///         let gone = scope.spawn_local_optional(|_| async { Err::<u8, _>("flaky") });
    ///         assert_eq!(gone.await, None);
    ///         Ok::<_, std::io::Error>(())
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
    pub fn spawn_local_optional<F, Fut, T, E>(&self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError>,
    {
        OptionalHandle::new(
            self.inner
                .spawn_local(TaskOptions::new(TaskKind::Optional, None), task),
        )
    }
}
