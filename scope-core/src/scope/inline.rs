//! Inline tasks: tasks that borrow (SPEC.md "Inline tasks: tasks that borrow").
//!
//! An inline task runs on the task that awaits its scope, polled by the
//! scope's run loop beside the body, as a `FuturesUnordered` would poll it.
//! It may therefore borrow anything that outlives the call that opened the
//! scope (`'env`), and needs no `unsafe` for it:
//!
//! - The run loop owns the set of running inline futures ([`InlineTasks`],
//!   boxed `dyn Future + Send + 'env`): nothing refers into the run future,
//!   so there is no self-borrow.
//! - [`Inline<'env>`], the handle the body gets, shares only a queue of new
//!   futures with it: `spawn` pushes onto the queue and wakes the run loop,
//!   which moves them into its set on its next turn. `'env` is invariant, so
//!   a handle can neither outlive what its tasks borrow nor shorten it.
//! - Everything else is the path every task takes: admission (a record, a
//!   `live` count, a token of its own), the `max_concurrency` slot and the
//!   grace rules (`Inner::guarded`), the scope entered and the end counted
//!   ([`TaskFuture`]), failure reporting. An inline task always runs within
//!   the grace rules, even with a zero grace period: its handle's
//!   cancellation reaches it through its own signal (`InlineSlot`), as a
//!   graced Tokio task's does.
//! - Its abort is its future being dropped by the run loop: when the scope
//!   aborts its tasks (`Inner::abort_tasks` wakes the run loop through
//!   `Inner::loop_waker`), and when the scope's future is dropped (the set
//!   goes with it).
//! - A handle kept after the scope ended is refused by admission, as a
//!   `Scope`'s is. When the set is dropped (with the scope's future), the
//!   queue is emptied and closed: a queued task holding an `Inline` clone
//!   cannot keep the queue alive, and a task admitted in the moment before
//!   the scope stops accepting is dropped at once instead of queued where
//!   nobody would poll it.
//! - A panic never leaves one inline task for the run loop: the user's own
//!   are caught in `TaskFuture` (a failure, as for any task); one that
//!   escapes it (a tracing subscriber's) reaches the task's handle
//!   (`Ends`); one from a destructor as the task is dropped is contained
//!   (`Contained`), so the set's other futures are still dropped and
//!   counted out, as Tokio contains a spawned task's.
//! - A scope opened in an inline task is drawn under it in snapshots
//!   (`RUNNING`, read by the builder's `opened_in`).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use pin_project_lite::pin_project;
use tokio_util::sync::CancellationToken;

use super::inner::Inner;
use super::run::Inlines;
use super::spawn::{Admitted, TaskOptions};
use super::task_future::TaskFuture;
use super::Scope;
use crate::error::{BoxError, TaskError};
use crate::handle::{GracedSignal, InlineSlot, OptionalHandle, TaskHandle, TaskResult};
use crate::ids::{ScopeId, TaskId, TaskName};
use crate::observe;
use crate::policy::TaskKind;

thread_local! {
    /// The inline task being polled on this thread, and its scope: a scope
    /// opened in it is drawn under it in snapshots.
    static RUNNING: Cell<Option<(ScopeId, TaskId)>> = const { Cell::new(None) };
}

/// The inline task being polled on this thread, and its scope's id.
pub(super) fn running() -> Option<(ScopeId, TaskId)> {
    RUNNING.with(Cell::get)
}

/// An inline task's future, as the run loop keeps it.
type InlineFuture<'env> = Pin<Box<dyn Future<Output = ()> + Send + 'env>>;

/// New inline futures, until the run loop takes them.
type Queue<'env> = Mutex<Queued<'env>>;

struct Queued<'env> {
    new: Vec<Contained<'env>>,
    /// The run loop's set is gone: nothing would poll a new future.
    closed: bool,
}

/// A handle that spawns *inline* tasks into its scope: tasks that run on the
/// task awaiting the scope and may borrow anything that outlives the call
/// that opened it ([`with_scope_inline`](crate::with_scope_inline),
/// [`ScopeBuilder::run_inline`](crate::ScopeBuilder::run_inline)).
///
/// Inline tasks run concurrently with the body and with each other, without
/// parallelism (as in a `FuturesUnordered`); in every other respect they are
/// tasks of the scope: policies and kinds, error handlers, `errors()`,
/// `wait_for_completion`, their own token, the grace period, then the abort
/// (their future is dropped), `max_concurrency`, timeout, shutdown,
/// snapshots, and [`Scope::current`] inside them.
///
/// A handle kept after its scope ended refuses spawns, as a [`Scope`] does:
/// the closure is never called and the task handle yields `Cancelled`.
///
/// A scope opened inside an inline task is a future inside that task's
/// future: each level of such nesting is polled on the stack of the task
/// awaiting the outermost scope, as nested `async fn`s are. SPEC.md's depth
/// rule (100,000 levels) is for scopes nested in spawned tasks; recurse
/// deeply through [`Scope::spawn`], not through inline tasks.
///
/// # Comparison to `std::thread::scope`
///
/// As `std::thread::scope`'s threads, inline tasks borrow from the enclosing
/// stack; unlike them, they share one thread. For parallel work, spawn
/// ordinary tasks into the same scope ([`Scope::spawn`]), which must be `'static`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{with_scope_inline, ScopeError};
///
/// async fn total_len(urls: &[String]) -> Result<usize, ScopeError> {
///     with_scope_inline(|_scope, inline| async move {
///         let mut handles = Vec::new();
///         for url in urls {
///             // Borrows `url` from the caller's slice: no clone, no `Arc`.
///             handles.push(inline.spawn(move |_| async move { Ok::<_, std::io::Error>(url.len()) }));
///         }
///         let mut total = 0;
///         for handle in handles {
///             total += handle.await?;
///         }
///         Ok::<_, async_scope::TaskError>(total)
///     })
///     .await
/// }
///
/// let urls = vec!["a".to_string(), "bb".to_string()];
/// assert_eq!(total_len(&urls).await.unwrap(), 3);
/// # }
/// ```
///
/// The body is an `async move` block (it must own the `Inline` handle), so
/// what its tasks borrow must be borrowed outside it: a reference parameter
/// as above, or `let urls = &urls;` before the call.
#[derive(Clone)]
pub struct Inline<'env> {
    scope: Scope,
    queue: Arc<Queue<'env>>,
    /// Invariant in `'env`.
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
}

/// The run loop's part: the inline tasks it polls.
pub(super) struct InlineTasks<'env> {
    running: FuturesUnordered<Contained<'env>>,
    queue: Arc<Queue<'env>>,
}

/// How many times one turn of the run loop takes new inline tasks (spawned
/// by inline tasks it just polled) before it yields to the runtime.
const ROUNDS: usize = 4;

impl<'env> Inline<'env> {
    /// A handle for `scope`, which must have been opened for inline tasks,
    /// and the set its run loop polls.
    pub(super) fn new(scope: &Scope) -> (Self, InlineTasks<'env>) {
        let queue = Arc::new(Mutex::new(Queued {
            new: Vec::new(),
            closed: false,
        }));
        let inline = Inline {
            scope: scope.clone(),
            queue: queue.clone(),
            _env: PhantomData,
        };
        let tasks = InlineTasks {
            running: FuturesUnordered::new(),
            queue,
        };
        (inline, tasks)
    }

    /// Spawns an inline task of kind Normal; see [`Scope::spawn`] for what
    /// its failure does under each policy.
    ///
    /// `task` is called with the task's own token on the task's first poll,
    /// by the scope's run loop.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let words = &["structured", "concurrency"];
    /// let lengths = async_scope::with_scope_inline(|_scope, inline| async move {
    ///     let a = inline.spawn(|_| async { Ok::<_, std::io::Error>(words[0].len()) });
    ///     let b = inline.spawn(|_| async { Ok::<_, std::io::Error>(words[1].len()) });
    ///     Ok::<_, async_scope::TaskError>((a.await?, b.await?))
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(lengths, (10, 11));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'env,
        Fut: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
        E: Into<BoxError>,
    {
        self.spawn_with(TaskOptions::new(TaskKind::Normal, None), task)
    }

    /// Spawns a critical inline task: its failure cancels the scope and
    /// fails it with [`Reason::CriticalTaskFailed`](crate::Reason::CriticalTaskFailed), under either policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Policy, Reason, Scope};
    ///
    /// let config = &String::new();
    /// let err = Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .run_inline(|_scope, inline| async move {
    ///         inline.spawn_critical(|_| async {
    ///             if config.is_empty() { Err("empty config") } else { Ok(()) }
    ///         });
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
        F: FnOnce(CancellationToken) -> Fut + Send + 'env,
        Fut: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
        E: Into<BoxError>,
    {
        self.spawn_with(TaskOptions::new(TaskKind::Critical, None), task)
    }

    /// Spawns an optional inline task: its handle yields `None` if it fails
    /// or is cancelled; its failure is recorded and goes to the nearest error
    /// handler, and never fails the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: &Vec<u32> = &Vec::new();
    /// let hit = async_scope::with_scope_inline(|_scope, inline| async move {
    ///     let hit = inline.spawn_optional(|_| async { cache.first().copied().ok_or("miss") });
    ///     Ok::<_, std::io::Error>(hit.await)
    /// })
    /// .await
    /// .unwrap(); // an optional failure does not fail the scope
    /// assert_eq!(hit, None);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_optional<F, Fut, T, E>(&self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'env,
        Fut: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
        E: Into<BoxError>,
    {
        OptionalHandle::new(self.spawn_with(TaskOptions::new(TaskKind::Optional, None), task))
    }

    /// Spawns a named inline task, as [`spawn`](Self::spawn); the name
    /// appears in its failure, in snapshots, in tracing and in
    /// `ASYNC_SCOPE_DEBUG` lines.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shard = &[1u8, 2, 3];
    /// let err = async_scope::with_scope_inline(|_scope, inline| async move {
    ///     inline.spawn_named("checksum", |_| async {
    ///         if shard.len() % 2 == 1 { Err("odd shard") } else { Ok(()) }
    ///     });
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert_eq!(err.failures()[0].name(), Some("checksum"));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F, Fut, T, E>(&self, name: impl Into<TaskName>, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'env,
        Fut: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
        E: Into<BoxError>,
    {
        self.spawn_with(TaskOptions::new(TaskKind::Normal, Some(name.into())), task)
    }

    /// The scope these inline tasks belong to.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope_inline(|scope, inline| async move {
    ///     assert!(inline.scope().same_scope(&scope));
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Admits the task, builds its future and queues it for the run loop.
    #[track_caller]
    fn spawn_with<F, Fut, T, E>(&self, mut options: TaskOptions, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'env,
        Fut: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
        E: Into<BoxError>,
    {
        options.inline = true;
        let inner = &self.scope.inner;
        let Admitted { meta, token, slot } = match inner.admit_task(options) {
            Ok(admitted) => admitted,
            Err(id) => return TaskHandle::refused(id),
        };
        let id = meta.id;
        let out = Arc::new(InlineSlot::new(token.clone()));
        let fut = inner.guarded(id, token, Some(SlotSignal(out.clone())), slot, task);
        // Queued and counted even if the subscriber panics; the panic goes on after.
        let (span, panic) = inner.report_spawned(&meta);
        let fut = TaskFuture::new(self.scope.clone(), id, fut);
        let sender = Sender(out.clone());
        let running = (inner.id, id);
        let fut: InlineFuture<'env> = match span {
            None => Box::pin(Ends {
                fut,
                sender,
                running,
            }),
            Some(span) => Box::pin(Ends {
                fut: observe::traced(fut, span),
                sender,
                running,
            }),
        };
        let mut queue = lock(&self.queue);
        if queue.closed {
            // Dropped unpolled, outside the lock: counted out, its handle
            // yields `Cancelled`, its closure never called.
            drop(queue);
            drop(Contained(Some(fut)));
        } else {
            queue.new.push(Contained(Some(fut)));
            drop(queue);
            inner.loop_waker.wake();
        }
        observe::resume(panic);
        TaskHandle::inline(id, out)
    }
}

impl fmt::Debug for Inline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inline")
            .field("scope", &self.scope.inner.id)
            .finish_non_exhaustive()
    }
}

impl<'env> InlineTasks<'env> {
    /// Moves the newly spawned tasks into the set.
    fn take_new(&mut self) {
        let new = std::mem::take(&mut lock(&self.queue).new);
        self.running.extend(new);
    }
}

/// Locks the queue (only our own code runs under its lock).
fn lock<'a, 'env>(queue: &'a Queue<'env>) -> MutexGuard<'a, Queued<'env>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inlines for InlineTasks<'_> {
    /// Polls the inline tasks, taking in the new ones first; drops them all
    /// once the scope has aborted its tasks.
    fn poll(&mut self, inner: &Inner, cx: &mut Context<'_>) {
        // Registered before `aborted` and the queue are read: a spawn or an
        // abort after this point wakes this turn's waker.
        inner.loop_waker.register(cx.waker());
        for _ in 0..ROUNDS {
            self.take_new();
            if inner.is_aborted() {
                self.running.clear();
                return;
            }
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
            if inner.is_aborted() {
                self.running.clear();
                return;
            }
            if lock(&self.queue).new.is_empty() {
                return;
            }
        }
        // Tasks keep spawning tasks: let the runtime run others first.
        cx.waker().wake_by_ref();
    }
}

impl Drop for InlineTasks<'_> {
    /// Drops the queued tasks too (with the scope's future), outside the
    /// lock: a queued task may hold an `Inline` clone, so the queue may
    /// outlive this set.
    fn drop(&mut self) {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        let queued = std::mem::take(&mut queue.new);
        drop(queue);
        drop(queued);
    }
}

/// An inline task's future as the run loop holds it: a panic that escapes
/// its poll (a tracing subscriber's, resumed once the task was counted out)
/// or its drop (a destructor of the user's future panicking as the run loop
/// aborts it) ends that task alone, as Tokio contains a spawned task's
/// panic. The task's future is dropped (counting it out and ending its
/// handle, whose parts drop even when another part's destructor panics),
/// and the run loop, the body and the other inline tasks go on: one
/// panicking destructor cannot leave the set's other futures undropped.
struct Contained<'env>(Option<InlineFuture<'env>>);

impl Contained<'_> {
    /// Drops the task's future, containing a panic of its destructors.
    fn drop_future(&mut self) {
        if let Some(fut) = self.0.take() {
            // The payload is dropped with the result, as Tokio drops an
            // aborted task's; the task already ended `Cancelled`.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
        }
    }
}

impl Future for Contained<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(fut) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) | Err(_) => {
                self.drop_future();
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Contained<'_> {
    fn drop(&mut self) {
        self.drop_future();
    }
}

/// An inline task's own signal, as the grace rules take it.
struct SlotSignal<T>(Arc<InlineSlot<T>>);

impl<T> AsRef<GracedSignal> for SlotSignal<T> {
    fn as_ref(&self) -> &GracedSignal {
        &self.0.own
    }
}

/// Ends an inline task's slot: with its value when its future completes,
/// else (dropped first: aborted) as cancelled.
struct Sender<T>(Arc<InlineSlot<T>>);

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.end(None);
    }
}

pin_project! {
    /// An inline task's future: its task future, then its value sent to its handle.
    struct Ends<F, T> {
        // Declared first, so dropped first: a task dropped before it ends is
        // counted out of its scope before its handle learns it was
        // cancelled. (A task that ends, even cancelled by its scope's
        // abort before its future ran, hands its value over first and is
        // counted out as the set drops it.)
        #[pin]
        fut: F,
        sender: Sender<T>,
        // The task and its scope, for `RUNNING`.
        running: (ScopeId, TaskId),
    }
}

impl<F, T> Future for Ends<F, T>
where
    F: Future<Output = TaskResult<T>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        /// Restores `RUNNING` after the poll, even if it unwinds.
        struct Restore(Option<(ScopeId, TaskId)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                RUNNING.with(|running| running.set(self.0));
            }
        }
        let this = self.project();
        let _restore = Restore(RUNNING.with(|running| running.replace(Some(*this.running))));
        // The user's panics are caught inside `fut`; one that escapes it is a
        // tracing subscriber's (resumed once the task was counted out): it
        // reaches the handle, as Tokio hands a spawned task's panic to its
        // `JoinHandle`, and ends this task alone.
        let result = match catch_unwind(AssertUnwindSafe(|| this.fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(|error| *error),
            Err(payload) => Err(TaskError::from_panic(&*payload)),
        };
        this.sender.0.end(Some(result));
        Poll::Ready(())
    }
}
