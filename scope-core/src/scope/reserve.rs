//! Backpressure: [`Scope::reserve`] waits for a free `max_concurrency` slot
//! and hands it over in a [`SpawnPermit`], whose `spawn` starts its task in
//! exactly that slot, as `tokio::sync::mpsc::Sender::reserve` is to `send`.
//! An accept loop that reserves before it accepts never holds more
//! connections than the limit, and never races a spawn for the slot.

use std::fmt;
use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::spawn::TaskOptions;
use super::Scope;
use crate::error::BoxError;
use crate::handle::{OptionalHandle, TaskHandle};
use crate::ids::TaskName;
use crate::limit::{Permit, Start};
use crate::policy::TaskKind;

impl Scope {
    /// Waits for a free [`max_concurrency`](crate::ScopeBuilder::max_concurrency)
    /// slot, in turn with the tasks already waiting, and reserves it for the
    /// next task spawned through the returned [`SpawnPermit`].
    ///
    /// Returns at once when the scope has no limit. Returns `None` when the
    /// scope no longer accepts spawns, or stops accepting them while this
    /// waits (it was cancelled, shut down or failed, or it ended): an accept
    /// loop's cue to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use async_scope::{Policy, Scope};
    ///
    /// Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .max_concurrency(2)
    ///     .run(|scope| async move {
    ///         let mut served = 0;
    ///         // An accept loop: wait for room first, then accept, then spawn.
    ///         while let Some(permit) = scope.reserve().await {
    ///             let connection = served; // listener.accept().await? in a server
    ///             permit.spawn(move |_| async move {
    ///                 tokio::time::sleep(Duration::from_millis(10)).await;
    ///                 Ok::<_, std::io::Error>(connection)
    ///             });
    ///             served += 1;
    ///             if served == 10 {
    ///                 scope.shutdown();
    ///             }
    ///         }
    ///         assert_eq!(served, 10);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue (or
    /// the slot it was just given) to the next in line.
    pub async fn reserve(&self) -> Option<SpawnPermit> {
        let signal = self.signal();
        if signal.is_cancelled() || !self.inner.accepts_spawns() {
            return None;
        }
        let slot = match self.inner.slots.as_ref().map(|slots| slots.start(None)) {
            None => None,
            Some(Start::Now(slot)) => Some(slot),
            Some(Start::Wait(waiting)) => tokio::select! {
                biased;
                () = signal.cancelled() => return None,
                slot = waiting.acquired() => Some(slot?),
            },
        };
        self.inner.accepts_spawns().then(|| SpawnPermit {
            scope: self.clone(),
            slot,
            name: None,
        })
    }
}

/// A reserved [`max_concurrency`](crate::ScopeBuilder::max_concurrency) slot
/// of a scope, from [`Scope::reserve`]: its `spawn` methods start one task in
/// that slot, at once. Dropping the permit unused gives the slot back.
///
/// The task is refused, as any spawn, if the scope stopped accepting spawns
/// since the reservation (its closure is never called, its handle yields
/// `Cancelled`).
///
/// # Examples
///
/// See [`Scope::reserve`].
#[must_use = "a permit holds a slot until a task is spawned with it or it is dropped"]
pub struct SpawnPermit {
    scope: Scope,
    slot: Option<Permit>,
    name: Option<TaskName>,
}

impl SpawnPermit {
    /// Names the task the permit will spawn, as
    /// [`TaskBuilder::name`](crate::TaskBuilder::name) does.
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
    ///     .max_concurrency(8)
    ///     .run(|scope| async move {
    ///         let peer = "127.0.0.1:50312"; // from `accept()` in a server
    ///         let permit = scope.reserve().await.expect("the scope accepts spawns");
    ///         permit.name(format!("conn {peer}")).spawn(|_| async { Err::<(), _>("bad frame") });
    ///         scope.wait_for_completion().await?;
    ///         assert_eq!(scope.errors()[0].name(), Some("conn 127.0.0.1:50312"));
    ///         Ok::<_, async_scope::ScopeError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<TaskName>) -> Self {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn options(self, kind: TaskKind) -> (Scope, TaskOptions) {
        let mut options = TaskOptions::new(kind, self.name);
        options.slot = self.slot;
        (self.scope, options)
    }

    /// Spawns a task in the reserved slot, as [`Scope::spawn`] does.
    ///
    /// # Examples
    ///
    /// See [`Scope::reserve`].
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

    /// Spawns a critical task in the reserved slot, as [`Scope::spawn_critical`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let permit = scope.reserve().await.expect("the scope accepts spawns");
    ///     let commit = permit.spawn_critical(|_| async { Ok::<_, std::io::Error>("committed") });
    ///     assert_eq!(commit.await?, "committed");
    ///     Ok::<_, async_scope::TaskError>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
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

    /// Spawns an optional task in the reserved slot, as [`Scope::spawn_optional`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     let permit = scope.reserve().await.expect("the scope accepts spawns");
    ///     let metrics = permit.spawn_optional(|_| async { Err::<(), _>("statsd down") });
    ///     assert_eq!(metrics.await, None);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
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
}

impl fmt::Debug for SpawnPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnPermit")
            .field("scope", &self.scope.id())
            .field("slot", &self.slot.is_some())
            .field("name", &self.name)
            .finish()
    }
}
