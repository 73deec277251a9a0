//! The benchmark suite of issue 4: async-scope measured side by side with its
//! peers, in one process, on one multi-thread runtime with 2 workers.
//!
//! Peers: raw `tokio::spawn` + `JoinHandle`s, `tokio::task::JoinSet`,
//! `tokio_util::task::TaskTracker` + `CancellationToken`, `FuturesUnordered`
//! (every future inside the owner's task) and async-scope (engine API, and the
//! `scope!` / `#[scoped]` macros in `macro_overhead`).
//!
//! Each workload runs every peer in every round, the peers' order rotated by
//! one each round, after one warm-up round that is not recorded; a result is
//! the median over the rounds. Every run checks its result (sums, counts, and
//! for cancellation that every task was dropped by the time the owner got
//! control back, through drop counters); a failed check is reported and makes
//! the bench exit non-zero, never silently.
//!
//! Usage: `cargo bench --bench peers [-- [--quick] [--rounds N] [--peer NAME] [FILTER]]`.
//! `--quick` (or `ASYNC_SCOPE_BENCH_QUICK=1`) shrinks N and the rounds so the
//! whole run takes well under a minute. `FILTER` keeps the workloads whose
//! name contains it; `--peer NAME` (e.g. `async-scope`, `JoinSet`) runs one
//! peer only, for profiling. The output is a table, then one JSON line per result.
//! `docs/BENCHMARKS.md` explains the workloads and keeps the latest table.

use std::convert::Infallible;
use std::fmt;
use std::future::{pending, Future};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_scope::{with_scope, Policy, Reason, Scope, TaskError};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::{yield_now, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// === peers ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// `tokio::spawn` and a `Vec<JoinHandle>`.
    Raw,
    /// `tokio::task::JoinSet`: the reference of every ratio.
    JoinSet,
    /// `TaskTracker` + a `CancellationToken` that each task watches (and
    /// cancels when it fails, for fail-fast workloads).
    Tracker,
    /// `FuturesUnordered`: every future polled inside the owner's task.
    Unordered,
    /// async-scope through its engine API (`with_scope`, `Scope::spawn`).
    Scope,
    /// async-scope through `scope!` (macro_overhead only).
    ScopeMacro,
    /// async-scope through `#[scoped]` (macro_overhead only).
    ScopedAttr,
}

const PEERS: [Peer; 5] = [
    Peer::Raw,
    Peer::JoinSet,
    Peer::Tracker,
    Peer::Unordered,
    Peer::Scope,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Raw => "tokio::spawn",
            Peer::JoinSet => "JoinSet",
            Peer::Tracker => "TaskTracker+token",
            Peer::Unordered => "FuturesUnordered",
            Peer::Scope => "async-scope",
            Peer::ScopeMacro => "scope!",
            Peer::ScopedAttr => "#[scoped]",
        }
    }

    fn parse(name: &str) -> Option<Peer> {
        [
            Peer::Raw,
            Peer::JoinSet,
            Peer::Tracker,
            Peer::Unordered,
            Peer::Scope,
            Peer::ScopeMacro,
            Peer::ScopedAttr,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

// === shared task bodies and counters ===

/// The error of failing tasks.
#[derive(Debug)]
struct BenchError(u64);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} failed", self.0)
    }
}

impl std::error::Error for BenchError {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Tasks that reached their pending point.
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// Pending tasks whose future was dropped.
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// How many tasks must park before `ALL_PARKED` is notified.
static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static ALL_PARKED: Notify = Notify::const_new();
/// When the failing task of `fail_fast_cancel` failed.
static FAILED_AT: Mutex<Option<Instant>> = Mutex::new(None);

fn reset_counters(target: usize) {
    PARKED.store(0, SeqCst);
    DROPPED.store(0, SeqCst);
    TARGET.store(target, SeqCst);
    *FAILED_AT.lock().unwrap() = None;
}

/// Counts its own drop: created with the task's future, dropped with it.
struct DropGuard;

impl Drop for DropGuard {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

fn park() {
    if PARKED.fetch_add(1, SeqCst) + 1 == TARGET.load(SeqCst) {
        ALL_PARKED.notify_one();
    }
}

/// A task that parks forever once polled; its future holds a drop guard.
fn parked_forever() -> impl Future<Output = Result<(), BenchError>> + Send + 'static {
    let guard = DropGuard;
    async move {
        let _guard = guard;
        park();
        pending().await
    }
}

/// A task that fails once every `parked_forever` task is parked.
async fn fail_when_parked() -> Result<(), BenchError> {
    ALL_PARKED.notified().await;
    *FAILED_AT.lock().unwrap() = Some(Instant::now());
    Err(BenchError(0))
}

/// The trivial task of spawn_join: its own index.
async fn trivial(i: u64) -> Result<u64, Infallible> {
    Ok(i)
}

/// One task in ten fails (supervise_errors).
async fn tenth_fails(i: u64) -> Result<u64, BenchError> {
    if i % 10 == 0 {
        Err(BenchError(i))
    } else {
        Ok(i)
    }
}

/// What a TaskTracker + token user writes around each task: stop when the
/// token is cancelled, and (fail-fast) cancel the token when the task fails.
/// `None` means cancelled.
async fn tracked<F, T, E>(
    token: CancellationToken,
    fail_fast: bool,
    body: F,
) -> Option<Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    tokio::select! {
        biased;
        () = token.cancelled() => None,
        result = body => {
            if fail_fast && result.is_err() {
                token.cancel();
            }
            Some(result)
        }
    }
}

// === checks ===

static CHECK_FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a failed check; the bench goes on and exits non-zero at the end.
fn check(ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        let what = what();
        eprintln!("CHECK FAILED: {what}");
        CHECK_FAILURES.lock().unwrap().push(what);
    }
}

/// Checks that all `n` parked tasks were dropped when the owner got control back.
fn check_all_dropped(workload: &str, peer: Peer, n: usize) {
    let dropped = DROPPED.load(SeqCst);
    if dropped != n {
        // Say how late the rest were, to tell a race from a leak.
        let start = Instant::now();
        while DROPPED.load(SeqCst) != n && start.elapsed() < Duration::from_secs(2) {
            std::thread::yield_now();
        }
        let later = DROPPED.load(SeqCst);
        check(false, || {
            format!(
                "{workload} {}: {dropped} of {n} tasks dropped when the owner had control back \
                 ({later} after {:?} more)",
                peer.name(),
                start.elapsed()
            )
        });
    }
}

fn expected_sum(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

// === workloads ===

/// N trivial tasks, await all, sum.
async fn spawn_join(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let sum = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(trivial(i))).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap().unwrap();
            }
            sum
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(trivial(i));
            }
            let mut sum = 0;
            while let Some(result) = set.join_next().await {
                sum += result.unwrap().unwrap();
            }
            sum
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let handles: Vec<_> = (0..n)
                .map(|i| tracker.spawn(tracked(token.clone(), true, trivial(i))))
                .collect();
            tracker.close();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap().unwrap().unwrap();
            }
            tracker.wait().await;
            sum
        }
        Peer::Unordered => {
            let mut set: FuturesUnordered<_> = (0..n).map(trivial).collect();
            let mut sum = 0;
            while let Some(result) = set.next().await {
                sum += result.unwrap();
            }
            sum
        }
        Peer::Scope => with_scope(|scope| async move {
            let handles: Vec<_> = (0..n).map(|i| scope.spawn(move |_| trivial(i))).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await?;
            }
            Ok::<_, TaskError>(sum)
        })
        .await
        .unwrap(),
        Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), || {
        format!("spawn_join {} n={n}: sum {sum}", peer.name())
    });
    elapsed
}

/// N tasks parked forever and one that fails once they are all parked; the
/// time from the failure until every task is dropped and the owner has
/// control back.
async fn fail_fast_cancel(peer: Peer, n: usize) -> Duration {
    reset_counters(n);
    let end = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|_| tokio::spawn(parked_forever())).collect();
            let failing = tokio::spawn(fail_when_parked());
            let failed = failing.await.unwrap().is_err();
            for handle in &handles {
                handle.abort();
            }
            let mut cancelled = 0;
            for handle in handles {
                cancelled += usize::from(handle.await.unwrap_err().is_cancelled());
            }
            let end = Instant::now();
            check(failed && cancelled == n, || {
                format!("fail_fast_cancel raw: failed {failed}, cancelled {cancelled}")
            });
            end
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for _ in 0..n {
                set.spawn(parked_forever());
            }
            set.spawn(fail_when_parked());
            let first = set.join_next().await.unwrap().unwrap();
            set.shutdown().await;
            let end = Instant::now();
            check(first.is_err(), || {
                "fail_fast_cancel JoinSet: first not Err".into()
            });
            end
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            for _ in 0..n {
                tracker.spawn(tracked(token.clone(), true, parked_forever()));
            }
            let failing = tracker.spawn(tracked(token.clone(), true, fail_when_parked()));
            tracker.close();
            tracker.wait().await;
            let end = Instant::now();
            let failed = matches!(failing.await, Ok(Some(Err(_))));
            check(failed, || "fail_fast_cancel TaskTracker: no failure".into());
            end
        }
        Peer::Unordered => {
            let mut set = FuturesUnordered::new();
            for _ in 0..n {
                set.push(Either::Left(parked_forever()));
            }
            set.push(Either::Right(fail_when_parked()));
            let first = set.next().await.unwrap();
            drop(set);
            let end = Instant::now();
            check(first.is_err(), || {
                "fail_fast_cancel FuturesUnordered: first not Err".into()
            });
            end
        }
        Peer::Scope => {
            let result = with_scope(|scope| async move {
                for _ in 0..n {
                    scope.spawn(|_| parked_forever());
                }
                scope.spawn(|_| fail_when_parked());
                Ok::<_, Infallible>(())
            })
            .await;
            let end = Instant::now();
            let failed = matches!(&result, Err(e) if matches!(e.reason(), Reason::TaskFailed(_)));
            check(failed, || {
                format!("fail_fast_cancel async-scope: {result:?}")
            });
            end
        }
        Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let failed_at = FAILED_AT.lock().unwrap().expect("the failing task ran");
    check_all_dropped("fail_fast_cancel", peer, n);
    end - failed_at
}

/// N scopes in sequence, each spawning and joining one task. Scopes are
/// nested in an outer one (for TaskTracker: child tokens of an outer token).
async fn nested(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let sum = match peer {
        Peer::Raw => {
            let mut sum = 0;
            for i in 0..n {
                sum += tokio::spawn(trivial(i)).await.unwrap().unwrap();
            }
            sum
        }
        Peer::JoinSet => {
            let mut sum = 0;
            for i in 0..n {
                let mut set = JoinSet::new();
                set.spawn(trivial(i));
                sum += set.join_next().await.unwrap().unwrap().unwrap();
            }
            sum
        }
        Peer::Tracker => {
            let outer = CancellationToken::new();
            let mut sum = 0;
            for i in 0..n {
                let token = outer.child_token();
                let tracker = TaskTracker::new();
                let handle = tracker.spawn(tracked(token.clone(), true, trivial(i)));
                tracker.close();
                sum += handle.await.unwrap().unwrap().unwrap();
                tracker.wait().await;
            }
            sum
        }
        Peer::Unordered => {
            let mut sum = 0;
            for i in 0..n {
                let mut set = FuturesUnordered::new();
                set.push(trivial(i));
                sum += set.next().await.unwrap().unwrap();
            }
            sum
        }
        Peer::Scope => with_scope(|_outer| async move {
            let mut sum = 0;
            for i in 0..n {
                sum += with_scope(|scope| async move { scope.spawn(move |_| trivial(i)).await })
                    .await?;
            }
            Ok::<_, async_scope::ScopeError>(sum)
        })
        .await
        .unwrap(),
        Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), || {
        format!("nested {} n={n}: sum {sum}", peer.name())
    });
    elapsed
}

const TREE_DEPTH: u32 = 4;
const TREE_FAN_OUT: u64 = 10;
/// 1 + 10 + 100 + 1,000 + 10,000.
const TREE_NODES: u64 = 11_111;

fn raw_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let handles: Vec<_> = (0..TREE_FAN_OUT)
            .map(|_| tokio::spawn(raw_node(depth + 1)))
            .collect();
        let mut nodes = 1;
        for handle in handles {
            nodes += handle.await.unwrap();
        }
        nodes
    })
}

fn join_set_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let mut set = JoinSet::new();
        for _ in 0..TREE_FAN_OUT {
            set.spawn(join_set_node(depth + 1));
        }
        let mut nodes = 1;
        while let Some(result) = set.join_next().await {
            nodes += result.unwrap();
        }
        nodes
    })
}

fn tracker_node(depth: u32, token: CancellationToken) -> BoxFuture<Result<u64, BenchError>> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return Ok(1);
        }
        let token = token.child_token();
        let tracker = TaskTracker::new();
        let handles: Vec<_> = (0..TREE_FAN_OUT)
            .map(|_| {
                let child = tracker_node(depth + 1, token.clone());
                tracker.spawn(tracked(token.clone(), true, child))
            })
            .collect();
        tracker.close();
        let mut nodes = 1;
        for handle in handles {
            nodes += handle.await.unwrap().expect("not cancelled")?;
        }
        tracker.wait().await;
        Ok(nodes)
    })
}

fn unordered_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let mut set: FuturesUnordered<_> = (0..TREE_FAN_OUT)
            .map(|_| unordered_node(depth + 1))
            .collect();
        let mut nodes = 1;
        while let Some(n) = set.next().await {
            nodes += n;
        }
        nodes
    })
}

fn scope_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        with_scope(|scope| async move {
            let handles: Vec<_> = (0..TREE_FAN_OUT)
                .map(|_| {
                    scope.spawn(
                        move |_| async move { Ok::<_, Infallible>(scope_node(depth + 1).await) },
                    )
                })
                .collect();
            let mut nodes = 1;
            for handle in handles {
                nodes += handle.await?;
            }
            Ok::<_, TaskError>(nodes)
        })
        .await
        .unwrap()
    })
}

/// Nested scopes of depth 4 and fan-out 10 (11,111 nodes); leaves yield once.
async fn fan_out_tree(peer: Peer) -> Duration {
    let start = Instant::now();
    let nodes = match peer {
        Peer::Raw => raw_node(0).await,
        Peer::JoinSet => join_set_node(0).await,
        Peer::Tracker => tracker_node(0, CancellationToken::new()).await.unwrap(),
        Peer::Unordered => unordered_node(0).await,
        Peer::Scope => scope_node(0).await,
        Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(nodes == TREE_NODES, || {
        format!("fan_out_tree {}: {nodes} nodes", peer.name())
    });
    elapsed
}

/// N tasks of which one in ten fails, all failures collected, siblings go
/// on (async-scope: `Policy::Supervise`).
async fn supervise_errors(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let (sum, errors) = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(tenth_fails(i))).collect();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            for handle in handles {
                match handle.await.unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(tenth_fails(i));
            }
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            while let Some(result) = set.join_next().await {
                match result.unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let handles: Vec<_> = (0..n)
                .map(|i| tracker.spawn(tracked(token.clone(), false, tenth_fails(i))))
                .collect();
            tracker.close();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            for handle in handles {
                match handle.await.unwrap().unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            tracker.wait().await;
            (sum, errors.len())
        }
        Peer::Unordered => {
            let mut set: FuturesUnordered<_> = (0..n).map(tenth_fails).collect();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            while let Some(result) = set.next().await {
                match result {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::Scope => Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let handles: Vec<_> = (0..n)
                    .map(|i| scope.spawn(move |_| tenth_fails(i)))
                    .collect();
                let mut sum = 0;
                let mut failed = 0;
                for handle in handles {
                    match handle.await {
                        Ok(v) => sum += v,
                        Err(TaskError::Failed(_)) => failed += 1,
                        Err(e) => return Err(e),
                    }
                }
                let errors = scope.errors().len();
                assert_eq!(errors, failed, "handles and errors() disagree");
                Ok((sum, errors))
            })
            .await
            .unwrap(),
        Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    let want_errors = n.div_ceil(10);
    let want_sum = expected_sum(n) - 10 * expected_sum(want_errors);
    check(sum == want_sum && errors as u64 == want_errors, || {
        format!(
            "supervise_errors {} n={n}: sum {sum} (want {want_sum}), errors {errors} (want {want_errors})",
            peer.name()
        )
    });
    elapsed
}

// === macro_overhead ===

mod macros {
    //! `scope!` and `#[scoped]` against the engine calls they expand to,
    //! written by hand (the "Equivalent code" of each macro's docs): N scopes
    //! in sequence, each spawning and joining one task, as `nested`.

    use super::*;
    use async_scope::{scope, scoped, ScopeError};

    /// The error of `#[scoped]` functions.
    #[derive(Debug)]
    pub(super) enum AppError {
        Scope(ScopeError),
        Task(TaskError),
    }

    impl From<ScopeError> for AppError {
        fn from(e: ScopeError) -> Self {
            AppError::Scope(e)
        }
    }

    impl From<TaskError> for AppError {
        fn from(e: TaskError) -> Self {
            AppError::Task(e)
        }
    }

    impl fmt::Display for AppError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                AppError::Scope(e) => write!(f, "scope: {e}"),
                AppError::Task(e) => write!(f, "task: {e}"),
            }
        }
    }

    impl std::error::Error for AppError {}

    /// One scope, one task, through `scope!`.
    async fn with_macro(i: u64) -> Result<u64, ScopeError> {
        scope! {
            let handle = spawn { Ok(i) };
            Ok(handle.await?)
        }
    }

    /// The same, written by hand as `scope!`'s docs expand it.
    async fn by_hand(i: u64) -> Result<u64, ScopeError> {
        with_scope(|scope| async move {
            let handle = scope.spawn(move |_| async move { Ok::<_, async_scope::BoxError>(i) });
            Ok::<_, async_scope::BoxError>(handle.await?)
        })
        .await
    }

    /// One scope, one task, through `#[scoped]`.
    #[scoped]
    async fn attr(i: u64) -> Result<u64, AppError> {
        let handle = scope.spawn(move |_| async move { Ok::<_, Infallible>(i) });
        Ok(handle.await?)
    }

    /// The same, written by hand as `#[scoped]`'s docs expand it.
    async fn attr_by_hand(i: u64) -> Result<u64, AppError> {
        let mut slot = None;
        let result = with_scope(|scope| {
            let slot = &mut slot;
            async move {
                let body: Result<u64, AppError> = async move {
                    let handle = scope.spawn(move |_| async move { Ok::<_, Infallible>(i) });
                    Ok(handle.await?)
                }
                .await;
                body.map_err(|error| {
                    *slot = Some(error);
                    async_scope::__private::BodyError
                })
            }
        })
        .await;
        match result {
            Ok(value) => Ok(value),
            Err(scope_error) => match slot {
                Some(error) if matches!(scope_error.reason(), Reason::BodyFailed(_)) => Err(error),
                _ => Err(AppError::from(scope_error)),
            },
        }
    }

    /// `Peer::Scope` is the hand-written `scope!` expansion; `by_hand_attr`
    /// selects the hand-written `#[scoped]` expansion instead.
    pub(super) async fn macro_overhead(peer: Peer, n: u64, by_hand_attr: bool) -> Duration {
        let start = Instant::now();
        let sum = with_scope(|_outer| async move {
            let mut sum = 0;
            for i in 0..n {
                sum += match (peer, by_hand_attr) {
                    (Peer::ScopeMacro, _) => with_macro(i).await.unwrap(),
                    (Peer::ScopedAttr, _) => attr(i).await.unwrap(),
                    (Peer::Scope, false) => by_hand(i).await.unwrap(),
                    (Peer::Scope, true) => attr_by_hand(i).await.unwrap(),
                    _ => unreachable!(),
                };
            }
            Ok::<_, Infallible>(sum)
        })
        .await
        .unwrap();
        let elapsed = start.elapsed();
        check(sum == expected_sum(n), || {
            format!("macro_overhead {} n={n}: sum {sum}", peer.name())
        });
        elapsed
    }
}

// === memory (child processes) ===

/// Resident set size of this process in bytes, from `/proc/self/statm`.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * page_size()?)
}

/// The page size, from `/proc/self/smaps` (no libc needed).
fn page_size() -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let line = smaps.lines().find(|l| l.starts_with("KernelPageSize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

const CHILD_FLAG: &str = "--memory-child";
const CHILD_PREFIX: &str = "MEMORY_CHILD bytes_per_task=";

/// The child's side: park `n` tasks under `peer`, print the RSS growth per
/// task, exit without tearing down.
fn memory_child(peer: Peer, n: usize) -> ! {
    let rt = runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            reset_counters(n);
            let before = rss_bytes().expect("/proc/self/statm");
            let report = move || -> ! {
                let after = rss_bytes().expect("/proc/self/statm");
                let parked = PARKED.load(SeqCst);
                assert_eq!(parked, n, "every task parked");
                let per_task = after.saturating_sub(before) as f64 / n as f64;
                println!("{CHILD_PREFIX}{per_task}");
                std::process::exit(0)
            };
            match peer {
                Peer::Raw => {
                    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(parked_forever())).collect();
                    ALL_PARKED.notified().await;
                    std::hint::black_box(&handles);
                    report()
                }
                Peer::JoinSet => {
                    let mut set = JoinSet::new();
                    for _ in 0..n {
                        set.spawn(parked_forever());
                    }
                    ALL_PARKED.notified().await;
                    std::hint::black_box(&set);
                    report()
                }
                Peer::Tracker => {
                    let tracker = TaskTracker::new();
                    let token = CancellationToken::new();
                    for _ in 0..n {
                        tracker.spawn(tracked(token.clone(), true, parked_forever()));
                    }
                    ALL_PARKED.notified().await;
                    std::hint::black_box((&tracker, &token));
                    report()
                }
                Peer::Unordered => {
                    let mut set: FuturesUnordered<_> = (0..n).map(|_| parked_forever()).collect();
                    tokio::select! {
                        _ = set.next() => unreachable!("parked forever"),
                        () = ALL_PARKED.notified() => {}
                    }
                    std::hint::black_box(&set);
                    report()
                }
                Peer::Scope => {
                    let _ = with_scope::<_, _, (), Infallible>(|scope| async move {
                        for _ in 0..n {
                            scope.spawn(|_| parked_forever());
                        }
                        ALL_PARKED.notified().await;
                        report()
                    })
                    .await;
                    unreachable!()
                }
                Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
            }
        })
        .await
        .unwrap()
    })
}

/// The parent's side: one child process per measurement.
fn memory_in_child(peer: Peer, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = Command::new(exe)
        .args([CHILD_FLAG, peer.name(), &n.to_string()])
        .output()
        .expect("run the memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = stdout
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_PREFIX))
        .and_then(|v| v.trim().parse().ok());
    check(output.status.success() && value.is_some(), || {
        format!(
            "memory {}: child failed: {:?} {}",
            peer.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    value.unwrap_or(f64::NAN)
}

// === harness ===

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

struct Config {
    /// `--quick`: smaller N and fewer rounds.
    quick: bool,
    /// Run without `--bench` (as `cargo test --all-targets` does): a smoke
    /// run with tiny N and one round that only checks results.
    smoke: bool,
    rounds: usize,
    filter: Option<String>,
    /// Only this peer (for profiling); ratios are then missing.
    peer: Option<Peer>,
}

/// One peer's result in one workload.
struct Result_ {
    workload: String,
    n: u64,
    unit: &'static str,
    /// `ns` (time per unit) or `B` (bytes per task).
    metric: &'static str,
    peer: Peer,
    /// One value per round, per unit.
    samples: Vec<f64>,
    /// The reference peer of ratios (JoinSet, or the hand-written engine calls).
    reference: Peer,
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Result_ {
    fn median(&self) -> f64 {
        median(&self.samples)
    }

    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The reference row of a workload.
fn reference<'a>(results: &'a [Result_], r: &Result_) -> Option<&'a Result_> {
    results
        .iter()
        .find(|o| o.workload == r.workload && o.n == r.n && o.peer == r.reference)
}

/// Ratio of medians to the reference.
fn ratio(results: &[Result_], r: &Result_) -> f64 {
    reference(results, r).map_or(f64::NAN, |j| r.median() / j.median())
}

/// Median of the per-round ratios to the reference (same round, adjacent in time).
fn paired_ratio(results: &[Result_], r: &Result_) -> f64 {
    reference(results, r).map_or(f64::NAN, |j| {
        let ratios: Vec<f64> = r
            .samples
            .iter()
            .zip(&j.samples)
            .map(|(a, b)| a / b)
            .collect();
        median(&ratios)
    })
}

/// Runs `f` for every peer, `rounds` rounds plus a warm-up, rotating the order;
/// each sample is `reps` runs, reported per unit.
#[allow(clippy::too_many_arguments)]
fn measure<F, Fut>(
    cfg: &Config,
    rt: &Runtime,
    results: &mut Vec<Result_>,
    workload: &str,
    n: u64,
    unit: &'static str,
    units_per_run: u64,
    reps: u32,
    peers: &[Peer],
    reference: Peer,
    f: F,
) where
    F: Fn(Peer) -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let peers: Vec<Peer> = peers
        .iter()
        .copied()
        .filter(|p| cfg.peer.map_or(true, |only| only == *p))
        .collect();
    let label = format!("{workload} n={n}");
    eprint!("{label:<28}");
    let mut samples = vec![Vec::new(); peers.len()];
    for round in 0..=cfg.rounds {
        for k in 0..peers.len() {
            let index = (k + round) % peers.len();
            let peer = peers[index];
            let mut total = Duration::ZERO;
            for _ in 0..reps {
                // The owner is a task on the runtime, as in a server.
                total += rt.block_on(async { tokio::spawn(f(peer)).await.unwrap() });
            }
            if round > 0 {
                samples[index]
                    .push(total.as_nanos() as f64 / f64::from(reps) / units_per_run as f64);
            }
        }
        eprint!(".");
    }
    eprintln!();
    for (peer, samples) in peers.iter().zip(samples) {
        results.push(Result_ {
            workload: workload.to_string(),
            n,
            unit,
            metric: "ns",
            peer: *peer,
            samples,
            reference,
        });
    }
}

fn measure_memory(cfg: &Config, results: &mut Vec<Result_>, n: usize) {
    let peers: Vec<Peer> = PEERS
        .into_iter()
        .filter(|p| cfg.peer.map_or(true, |only| only == *p))
        .collect();
    eprint!("{:<28}", format!("memory n={n}"));
    let mut samples = vec![Vec::new(); peers.len()];
    for round in 0..cfg.rounds {
        for k in 0..peers.len() {
            let index = (k + round) % peers.len();
            samples[index].push(memory_in_child(peers[index], n));
        }
        eprint!(".");
    }
    eprintln!();
    for (peer, samples) in peers.iter().zip(samples) {
        results.push(Result_ {
            workload: "memory".into(),
            n: n as u64,
            unit: "pending task",
            metric: "B",
            peer: *peer,
            samples,
            reference: Peer::JoinSet,
        });
    }
}

fn print_table(results: &[Result_]) {
    println!();
    println!("| workload | n | peer | median | min | max | unit | ratio | paired ratio |");
    println!("|---|---:|---|---:|---:|---:|---|---:|---:|");
    for r in results {
        let fmt = |v: f64| {
            if r.metric == "B" {
                format!("{v:.0} B")
            } else if v >= 10_000.0 {
                format!("{:.1} µs", v / 1000.0)
            } else {
                format!("{v:.1} ns")
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}× {} | {:.2}× |",
            r.workload,
            r.n,
            r.peer.name(),
            fmt(r.median()),
            fmt(r.min()),
            fmt(r.max()),
            r.unit,
            ratio(results, r),
            r.reference.name(),
            paired_ratio(results, r),
        );
    }
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

fn print_json(cfg: &Config, results: &[Result_]) {
    println!();
    for r in results {
        let samples: Vec<String> = r.samples.iter().map(|v| json_number(*v)).collect();
        println!(
            "{{\"workload\":\"{}\",\"n\":{},\"peer\":\"{}\",\"unit\":\"{}\",\"metric\":\"{}_per_{}\",\
             \"median\":{},\"min\":{},\"max\":{},\"rounds\":{},\"reference\":\"{}\",\
             \"ratio\":{},\"paired_ratio\":{},\"samples\":[{}],\"mode\":\"{}\"}}",
            r.workload,
            r.n,
            r.peer.name(),
            r.unit,
            r.metric,
            r.unit.replace(' ', "_"),
            json_number(r.median()),
            json_number(r.min()),
            json_number(r.max()),
            r.samples.len(),
            r.reference.name(),
            json_number(ratio(results, r)),
            json_number(paired_ratio(results, r)),
            samples.join(","),
            if cfg.smoke {
                "smoke"
            } else if cfg.quick {
                "quick"
            } else {
                "full"
            },
        );
    }
}

/// The targets of issue 4, evaluated on this run (ratio of medians).
fn print_targets(results: &[Result_]) {
    let find = |workload: &str, n: Option<u64>, peer: Peer| {
        results
            .iter()
            .filter(|r| r.workload == workload && r.peer == peer && n.map_or(true, |n| r.n == n))
            .max_by_key(|r| r.n)
    };
    let mut rows = Vec::new();
    let mut ratio_target = |name: String, r: Option<&Result_>, target: f64| {
        if let Some(r) = r {
            let value = ratio(results, r);
            if value.is_finite() {
                rows.push((name, value, target));
            }
        }
    };
    for n in [100_000, 1_000_000] {
        ratio_target(
            format!("spawn_join n={n}, async-scope / JoinSet"),
            find("spawn_join", Some(n), Peer::Scope),
            1.10,
        );
    }
    ratio_target(
        "fail_fast_cancel (largest n), async-scope / JoinSet".into(),
        find("fail_fast_cancel", None, Peer::Scope),
        1.00,
    );
    ratio_target(
        "nested, async-scope / JoinSet".into(),
        find("nested", None, Peer::Scope),
        1.30,
    );
    ratio_target(
        "fan_out_tree, async-scope / JoinSet".into(),
        find("fan_out_tree", None, Peer::Scope),
        1.20,
    );
    ratio_target(
        "memory per pending task, async-scope / JoinSet".into(),
        find("memory", None, Peer::Scope),
        1.15,
    );
    ratio_target(
        "macro_overhead, scope! / hand-written".into(),
        find("macro_overhead", None, Peer::ScopeMacro),
        1.02,
    );
    ratio_target(
        "macro_overhead, #[scoped] / hand-written".into(),
        find("macro_overhead_attr", None, Peer::ScopedAttr),
        1.02,
    );
    // supervise_errors against spawn_join's own figure at the same n.
    if let Some(sup) = find("supervise_errors", None, Peer::Scope) {
        if let Some(sj) = find("spawn_join", Some(sup.n), Peer::Scope) {
            rows.push((
                format!("supervise_errors n={}, async-scope / its spawn_join", sup.n),
                sup.median() / sj.median(),
                1.30,
            ));
        }
    }
    println!();
    println!("| target | value | target | verdict |");
    println!("|---|---:|---:|---|");
    for (name, value, target) in rows {
        let verdict = if value <= target { "met" } else { "MISSED" };
        println!("| {name} | {value:.2}× | ≤ {target:.2}× | {verdict} |");
    }
}

fn parse_args() -> Config {
    let mut quick = std::env::var_os("ASYNC_SCOPE_BENCH_QUICK").is_some_and(|v| v != "0");
    let mut rounds = None;
    let mut filter = None;
    let mut peer = None;
    let mut bench = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            CHILD_FLAG => {
                let peer = args
                    .next()
                    .and_then(|p| Peer::parse(&p))
                    .expect("a peer name");
                let n = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a task count");
                memory_child(peer, n);
            }
            "--quick" => quick = true,
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()),
            "--peer" => {
                peer = Some(
                    args.next()
                        .and_then(|p| Peer::parse(&p))
                        .expect("a peer name"),
                )
            }
            // cargo bench passes `--bench`; `cargo test` does not.
            "--bench" => bench = true,
            // libtest's other flags mean nothing here.
            a if a.starts_with('-') => {}
            a => filter = Some(a.to_string()),
        }
    }
    let smoke = !bench && !quick && rounds.is_none() && filter.is_none() && peer.is_none();
    let quick = quick || smoke;
    let default_rounds = if smoke {
        1
    } else if quick {
        3
    } else {
        11
    };
    Config {
        quick,
        smoke,
        rounds: rounds.unwrap_or(default_rounds).max(1),
        filter,
        peer,
    }
}

fn main() {
    let cfg = parse_args();
    let rt = runtime();
    let wanted = |name: &str| cfg.filter.as_deref().map_or(true, |f| name.contains(f));
    let mut results = Vec::new();
    let q = cfg.quick;
    // N for a full and a quick run; smoke runs (under `cargo test`) are tiny.
    let size = |full: u64, quick: u64| match (cfg.smoke, q) {
        (true, _) => (quick / 100).max(10),
        (false, true) => quick,
        (false, false) => full,
    };
    // Runs per sample, so that a sample lasts long enough to time.
    let reps = |full: u32, quick: u32| match (cfg.smoke, q) {
        (true, _) => 1,
        (false, true) => quick,
        (false, false) => full,
    };
    eprintln!(
        "async-scope peers bench: {} rounds (+1 warm-up), {} mode, multi-thread runtime with 2 workers",
        cfg.rounds,
        if cfg.smoke {
            "smoke (no --bench: results checked, times meaningless)"
        } else if q {
            "quick"
        } else {
            "full"
        }
    );

    if wanted("spawn_join") {
        let sizes = [
            (size(1_000, 1_000), reps(100, 20)),
            (size(100_000, 10_000), reps(1, 2)),
            (size(1_000_000, 100_000), 1),
        ];
        for (n, reps) in sizes {
            measure(
                &cfg,
                &rt,
                &mut results,
                "spawn_join",
                n,
                "task",
                n,
                reps,
                &PEERS,
                Peer::JoinSet,
                move |p| spawn_join(p, n),
            );
        }
    }
    if wanted("fail_fast_cancel") {
        for n in [size(10_000, 1_000), size(100_000, 10_000)] {
            let n = n as usize;
            measure(
                &cfg,
                &rt,
                &mut results,
                "fail_fast_cancel",
                n as u64,
                "run",
                1,
                1,
                &PEERS,
                Peer::JoinSet,
                move |p| fail_fast_cancel(p, n),
            );
        }
    }
    if wanted("nested") {
        let n = size(100_000, 10_000);
        measure(
            &cfg,
            &rt,
            &mut results,
            "nested",
            n,
            "scope",
            n,
            1,
            &PEERS,
            Peer::JoinSet,
            move |p| nested(p, n),
        );
    }
    if wanted("fan_out_tree") {
        let reps = reps(10, 2);
        measure(
            &cfg,
            &rt,
            &mut results,
            "fan_out_tree",
            TREE_NODES,
            "node",
            TREE_NODES,
            reps,
            &PEERS,
            Peer::JoinSet,
            fan_out_tree,
        );
    }
    if wanted("memory") {
        if rss_bytes().is_some() {
            measure_memory(&cfg, &mut results, size(100_000, 10_000) as usize);
        } else {
            eprintln!("memory: skipped, /proc/self/statm is not readable here");
        }
    }
    if wanted("supervise_errors") {
        let n = size(100_000, 10_000);
        let reps = reps(1, 2);
        measure(
            &cfg,
            &rt,
            &mut results,
            "supervise_errors",
            n,
            "task",
            n,
            reps,
            &PEERS,
            Peer::JoinSet,
            move |p| supervise_errors(p, n),
        );
    }
    if wanted("macro_overhead") {
        let n = size(100_000, 10_000);
        measure(
            &cfg,
            &rt,
            &mut results,
            "macro_overhead",
            n,
            "scope",
            n,
            1,
            &[Peer::Scope, Peer::ScopeMacro],
            Peer::Scope,
            move |p| macros::macro_overhead(p, n, false),
        );
        measure(
            &cfg,
            &rt,
            &mut results,
            "macro_overhead_attr",
            n,
            "scope",
            n,
            1,
            &[Peer::Scope, Peer::ScopedAttr],
            Peer::Scope,
            move |p| macros::macro_overhead(p, n, true),
        );
    }

    print_table(&results);
    if cfg.smoke {
        println!("\n(smoke run: targets not evaluated; run `cargo bench --bench peers`)");
    } else {
        if cfg.quick {
            println!(
                "\n(quick run: N is smaller than issue 4's, so the verdicts are indicative only)"
            );
        }
        print_targets(&results);
    }
    print_json(&cfg, &results);

    let failures = CHECK_FAILURES.lock().unwrap();
    if !failures.is_empty() {
        eprintln!("\n{} check(s) failed:", failures.len());
        for f in failures.iter() {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
