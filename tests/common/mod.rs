//! Helpers shared by the integration tests: a result alias, guards against
//! hangs, live-task probes, a flag, panic texts, a panic hook that keeps a
//! test's own panics quiet, tasks that fail on purpose and what checks them,
//! and [`Spawner`] with [`per_spawner!`], which runs one rule test once per
//! way of spawning a task.
#![allow(dead_code, unreachable_pub, unused_macros, unused_imports)] // each test file uses a different subset

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use std::sync::{Mutex, OnceLock};

use async_scope::{
    BoxError, CancellationToken, Inline, OptionalHandle, Reason, Scope, ScopeError, TaskError,
    TaskFailure, TaskHandle, TaskId,
};

pub type Res<T = ()> = Result<T, BoxError>;

/// The future of a task (`Send`, so that every spawner can run it).
pub type Task<T = ()> = std::pin::Pin<Box<dyn Future<Output = Res<T>> + Send>>;

/// Awaits a test's body, failing instead of hanging if it never ends: time is
/// paused, so the hour passes as soon as nothing else can run.
pub async fn guard<F: Future>(body: F) -> F::Output {
    guard_for(Duration::from_secs(3600), body).await
}

/// Awaits a test's body, failing instead of hanging if it has not ended
/// within `limit`. For runtimes whose time runs (multi_thread): the limit
/// only turns a hang into a failure, it times nothing.
pub async fn guard_for<F: Future>(limit: Duration, body: F) -> F::Output {
    tokio::time::timeout(limit, body)
        .await
        .expect("the test never ended: a scope or handle waited forever")
}

/// The text of a panic payload (empty if it is neither `&str` nor `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, which must panic, and returns the panic's message.
pub fn panic_of(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it did not panic");
    panic_text(&*payload)
}

/// Counts tasks whose future still exists (each holds a [`Probe`]), their
/// polls, and whether one was dropped with its token not cancelled.
#[derive(Clone, Default)]
pub struct Live {
    count: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
    uncancelled_drop: Flag,
    /// Notified whenever the count changes.
    changed: Arc<tokio::sync::Notify>,
}

impl Live {
    /// A probe for one task; on drop it records whether `token` was cancelled by then.
    pub fn probe(&self, token: &CancellationToken, cancelled_at_drop: &Flag) -> Probe {
        self.new_probe(Some(token), Some(cancelled_at_drop), Duration::ZERO)
    }

    /// A probe for one task that only records, in [`all_tokens_cancelled`](Self::all_tokens_cancelled),
    /// whether `token` was cancelled when it was dropped.
    pub fn watch(&self, token: &CancellationToken) -> Probe {
        self.new_probe(Some(token), None, Duration::ZERO)
    }

    /// A probe that only counts itself live.
    pub fn hold(&self) -> Probe {
        self.new_probe(None, None, Duration::ZERO)
    }

    /// A probe that only counts itself live, and whose destructor blocks its
    /// thread for `slow` before it counts itself out.
    pub fn hold_slowly(&self, slow: Duration) -> Probe {
        self.new_probe(None, None, slow)
    }

    fn new_probe(
        &self,
        token: Option<&CancellationToken>,
        cancelled_at_drop: Option<&Flag>,
        slow: Duration,
    ) -> Probe {
        self.count.fetch_add(1, SeqCst);
        self.changed.notify_waiters();
        Probe {
            live: self.clone(),
            token: token.cloned(),
            cancelled_at_drop: cancelled_at_drop.cloned(),
            slow,
        }
    }

    /// A task that never ends by itself, holding a [`watch`](Self::watch) probe.
    pub fn pending(&self) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
        let live = self.clone();
        move |token| {
            Box::pin(async move {
                let _probe = live.watch(&token);
                std::future::pending::<()>().await;
                Ok(())
            })
        }
    }

    /// A task that ignores its token and sleeps an hour, holding a
    /// [`watch`](Self::watch) probe.
    pub fn stubborn(&self) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
        let live = self.clone();
        move |token| {
            Box::pin(async move {
                let _probe = live.watch(&token);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
        }
    }

    /// A task that is always runnable: it counts a poll and yields, forever.
    pub fn busy(&self) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
        let live = self.clone();
        move |token| {
            Box::pin(async move {
                let _probe = live.watch(&token);
                loop {
                    live.poll();
                    tokio::task::yield_now().await;
                }
            })
        }
    }

    /// A task that counts a poll each time `notify` wakes it, forever.
    pub fn woken_by(
        &self,
        notify: &Arc<tokio::sync::Notify>,
    ) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
        let (live, notify) = (self.clone(), notify.clone());
        move |token| {
            Box::pin(async move {
                let _probe = live.watch(&token);
                loop {
                    live.poll();
                    notify.notified().await;
                }
            })
        }
    }

    /// Probes alive.
    pub fn count(&self) -> usize {
        self.count.load(SeqCst)
    }

    /// Waits until exactly `n` probes are alive: the signal that `n` tasks
    /// have started (or that the others are gone), on any runtime.
    pub async fn reaches(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.count() == n {
                return;
            }
            changed.await;
        }
    }

    /// Counts one poll of a task.
    pub fn poll(&self) {
        self.polls.fetch_add(1, SeqCst);
    }

    /// Polls counted so far.
    pub fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }

    /// Whether every probe dropped so far that had a token found it cancelled.
    pub fn all_tokens_cancelled(&self) -> bool {
        !self.uncancelled_drop.get()
    }
}

/// A task's drop guard: see [`Live`].
pub struct Probe {
    live: Live,
    token: Option<CancellationToken>,
    cancelled_at_drop: Option<Flag>,
    slow: Duration,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.slow.is_zero() {
            std::thread::sleep(self.slow);
        }
        if let Some(token) = &self.token {
            if !token.is_cancelled() {
                self.live.uncancelled_drop.set();
            } else if let Some(flag) = &self.cancelled_at_drop {
                flag.set();
            }
        }
        self.live.count.fetch_sub(1, SeqCst);
        self.live.changed.notify_waiters();
    }
}

#[derive(Clone, Default)]
pub struct Flag(pub Arc<AtomicBool>);

impl Flag {
    pub fn set(&self) {
        self.0.store(true, SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// Lets every runnable task run (on a current_thread runtime).
pub async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Keeps panics whose message starts with `prefix` (the test's own, on
/// purpose) out of the output; every other panic is printed as usual. The
/// first call in a test binary installs the hook: each binary uses one prefix.
pub fn quiet_panics(prefix: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with(prefix) {
                default(info);
            }
        }));
    });
}

/// The start of the panic messages of [`fails`] tasks, kept out of the
/// output by [`quiet_panics`] (a binary that uses [`fails`] uses no other prefix).
pub const ON_PURPOSE: &str = "on purpose: ";

/// How a [`fails`] task fails.
#[derive(Clone, Copy, Debug)]
pub enum Failing {
    Err,
    Panic,
}

/// Both ways of failing.
pub const BOTH: [Failing; 2] = [Failing::Err, Failing::Panic];

/// A task that fails as told after a yield (a panic's message starts with [`ON_PURPOSE`]).
pub fn fails(
    how: Failing,
    msg: &'static str,
) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
    quiet_panics(ON_PURPOSE);
    move |_| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            match how {
                Failing::Err => Err(msg.into()),
                Failing::Panic => panic!("{ON_PURPOSE}{msg}"),
            }
        })
    }
}

/// Whether `error` is what a [`fails`] task with `how` and `msg` ends with.
pub fn is_failure(error: &TaskError, how: Failing, msg: &str) -> bool {
    match (how, error) {
        (Failing::Err, TaskError::Failed(e)) => e.to_string() == msg,
        (Failing::Panic, TaskError::Panicked(m)) => m.strip_prefix(ON_PURPOSE) == Some(msg),
        _ => false,
    }
}

/// A task that counts the calls of its closure and ends at once.
pub fn counted(
    called: &Arc<AtomicUsize>,
) -> impl FnOnce(CancellationToken) -> Task + Send + 'static {
    let called = called.clone();
    move |_| {
        called.fetch_add(1, SeqCst);
        Box::pin(async { Ok(()) })
    }
}

/// A task that waits for its token, then ends `Ok` with the (virtual) time
/// since `start`, holding a [`Live::watch`] probe.
pub fn watcher(
    live: &Live,
    start: tokio::time::Instant,
) -> impl FnOnce(CancellationToken) -> Task<Duration> + Send + 'static {
    let live = live.clone();
    move |token| {
        Box::pin(async move {
            let _probe = live.watch(&token);
            token.cancelled().await;
            Ok(start.elapsed())
        })
    }
}

/// Checks that every spawn through an `Inline` handle is refused (its
/// scope cancelled, shut down or ended): closures never
/// called, handles `Cancelled` / `None`.
pub async fn inline_refuses_spawns(inline: &Inline<'_>) {
    let called = Arc::new(AtomicUsize::new(0));
    let normal = inline.spawn(counted(&called));
    let critical = inline.spawn_critical(counted(&called));
    let optional = inline.spawn_optional(counted(&called));
    assert!(matches!(normal.await, Err(TaskError::Cancelled)));
    assert!(matches!(critical.await, Err(TaskError::Cancelled)));
    assert_eq!(optional.await, None);
    settle().await;
    assert_eq!(
        called.load(SeqCst),
        0,
        "a refused task's closure was called"
    );
}

/// The failure of a scope that failed with `Reason::TaskFailed`.
pub fn task_failed(err: &ScopeError) -> &TaskFailure {
    match err.reason() {
        Reason::TaskFailed(failure) => failure,
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

/// The failure of a scope that failed with `Reason::CriticalTaskFailed`.
pub fn critical_failed(err: &ScopeError) -> &TaskFailure {
    match err.reason() {
        Reason::CriticalTaskFailed(failure) => failure,
        other => panic!("expected CriticalTaskFailed, got {other:?}"),
    }
}

pub fn reason_is_cancelled(err: &ScopeError) -> bool {
    matches!(err.reason(), Reason::Cancelled)
}

/// The failures an error handler made by [`collecting`] was given.
pub type Seen = Arc<Mutex<Vec<TaskFailure>>>;

/// An error handler that keeps every failure it is given in `seen`.
pub fn collecting(seen: &Seen) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
    let seen = seen.clone();
    move |failure| seen.lock().unwrap().push(failure.clone())
}

/// A task id set once from inside a scope's body.
pub type IdCell = Arc<OnceLock<TaskId>>;

/// Lets every runnable task run, `n` times over.
pub async fn settle_times(n: usize) {
    for _ in 0..n {
        settle().await;
    }
}

/// One way of spawning a task, for rules that hold for every spawner: `Send`
/// is `Scope::spawn*` (and `TaskBuilder::spawn*` for a named task), `Local`
/// is their `spawn_local*` forms, on a `tokio::task::LocalSet`. The tasks a
/// rule test gives it are `Send`, so that both can run them; what only local
/// tasks can do (`!Send` futures and values) has tests of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spawner {
    Send,
    Local,
}

impl Spawner {
    /// Runs a test's body where this spawner works (inside a fresh `LocalSet`
    /// for `Local`), under the paused-time [`guard`].
    pub async fn run<F: Future>(self, body: F) -> F::Output {
        match self {
            Spawner::Send => guard(body).await,
            Spawner::Local => guard(tokio::task::LocalSet::new().run_until(body)).await,
        }
    }

    /// Spawns a Normal task into `scope`.
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(self, scope: &Scope, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        match self {
            Spawner::Send => scope.spawn(task),
            Spawner::Local => scope.spawn_local(task),
        }
    }

    /// Spawns a Critical task into `scope`.
    #[track_caller]
    pub fn spawn_critical<F, Fut, T, E>(self, scope: &Scope, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        match self {
            Spawner::Send => scope.spawn_critical(task),
            Spawner::Local => scope.spawn_local_critical(task),
        }
    }

    /// Spawns an Optional task into `scope`.
    #[track_caller]
    pub fn spawn_optional<F, Fut, T, E>(self, scope: &Scope, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        match self {
            Spawner::Send => scope.spawn_optional(task),
            Spawner::Local => scope.spawn_local_optional(task),
        }
    }

    /// A named task of `scope`, spawned through `scope.task().name(name)`.
    pub fn named(self, scope: &Scope, name: impl Into<String>) -> Named<'_> {
        Named {
            spawner: self,
            scope,
            name: name.into(),
        }
    }
}

/// A named task about to be spawned: see [`Spawner::named`].
pub struct Named<'a> {
    spawner: Spawner,
    scope: &'a Scope,
    name: String,
}

impl Named<'_> {
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let builder = self.scope.task().name(self.name);
        match self.spawner {
            Spawner::Send => builder.spawn(task),
            Spawner::Local => builder.spawn_local(task),
        }
    }

    #[track_caller]
    pub fn spawn_critical<F, Fut, T, E>(self, task: F) -> TaskHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let builder = self.scope.task().name(self.name);
        match self.spawner {
            Spawner::Send => builder.spawn_critical(task),
            Spawner::Local => builder.spawn_local_critical(task),
        }
    }

    #[track_caller]
    pub fn spawn_optional<F, Fut, T, E>(self, task: F) -> OptionalHandle<T>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError>,
    {
        let builder = self.scope.task().name(self.name);
        match self.spawner {
            Spawner::Send => builder.spawn_optional(task),
            Spawner::Local => builder.spawn_local_optional(task),
        }
    }
}

/// Runs rules written once as `async fn rule(sp: Spawner)` once per
/// [`Spawner`]: for each name listed, a module of that name gets two tests,
/// `rule::spawn` and `rule::spawn_local` (the latter inside a `LocalSet`), on
/// a current_thread runtime with time paused, under the hang [`guard`].
macro_rules! per_spawner {
    ($($rule:ident),* $(,)?) => {$(
        mod $rule {
            #[tokio::test(flavor = "current_thread", start_paused = true)]
            async fn spawn() {
                let sp = $crate::common::Spawner::Send;
                sp.run(super::$rule(sp)).await;
            }

            #[tokio::test(flavor = "current_thread", start_paused = true)]
            async fn spawn_local() {
                let sp = $crate::common::Spawner::Local;
                sp.run(super::$rule(sp)).await;
            }
        }
    )*};
}

pub(crate) use per_spawner;

/// The process's resident set size, in bytes (`/proc/self/statm`; 0 where
/// there is none), for the soaks.
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes in MiB, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The peak [`rss`], sampled every 5 ms on a thread of its own until
/// [`finish`](PeakRss::finish).
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<std::sync::atomic::AtomicU64>,
    sampler: std::thread::JoinHandle<()>,
}

impl PeakRss {
    pub fn start() -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss()));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    peak.fetch_max(rss(), SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        };
        PeakRss {
            stop,
            peak,
            sampler,
        }
    }

    /// Stops sampling; the peak seen.
    pub fn finish(self) -> u64 {
        self.stop.store(true, SeqCst);
        self.sampler.join().unwrap();
        self.peak.load(SeqCst)
    }
}
