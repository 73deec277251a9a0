//! Run-time behaviour of `#[scoped]` and `scope!`: each form behaves as the
//! engine calls it expands to, written by hand (SPEC.md, "Macros").
//!
//! Timing uses `start_paused` and the engine's own signals, never racy sleeps.

// A renamed path to the crate, for `crate = "renamed"`.
extern crate async_scope as renamed;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    scope, scoped, BoxError, CancellationToken, OptionalHandle, Policy, Reason, Scope, ScopeError,
    TaskError, TaskFailure, TaskHandle, TaskKind,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

// === helpers ===

/// An application error, as `#[scoped]` functions return.
#[derive(Debug)]
enum AppError {
    Scope(ScopeError),
    Task(TaskError),
    Own(&'static str),
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

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Scope(e) => write!(f, "scope: {e}"),
            AppError::Task(e) => write!(f, "task: {e}"),
            AppError::Own(e) => write!(f, "own: {e}"),
        }
    }
}

impl std::error::Error for AppError {}

/// A short name of a scope's reason, to compare outcomes.
fn reason(err: &ScopeError) -> &'static str {
    match err.reason() {
        Reason::TaskFailed(_) => "task failed",
        Reason::CriticalTaskFailed(_) => "critical task failed",
        Reason::BodyFailed(_) => "body failed",
        Reason::Cancelled => "cancelled",
        Reason::TimedOut => "timed out",
        _ => "other",
    }
}

/// The reason of the scope error inside an `AppError::Scope`, or a panic.
fn scope_reason(err: &AppError) -> &'static str {
    match err {
        AppError::Scope(e) => reason(e),
        other => panic!("expected a scope error, got {other:?}"),
    }
}

fn failing(message: &'static str) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(message))
}

// === #[scoped] ===

#[scoped]
async fn doubled(n: u64) -> Result<u64, AppError> {
    let h = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(n * 2) });
    Ok(h.await?)
}

#[tokio::test]
async fn scoped_returns_the_body_value() {
    assert_eq!(doubled(21).await.unwrap(), 42);
}

#[scoped]
async fn own_error(early: bool) -> Result<u64, AppError> {
    scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
    if early {
        return Err(AppError::Own("returned early"));
    }
    Err(AppError::Own("at the end"))
}

#[tokio::test]
async fn scoped_gives_the_body_error_back_unchanged() {
    assert!(matches!(
        own_error(true).await,
        Err(AppError::Own("returned early"))
    ));
    assert!(matches!(
        own_error(false).await,
        Err(AppError::Own("at the end"))
    ));
}

fn check(n: u64) -> Result<u64, AppError> {
    if n == 0 {
        Err(AppError::Own("zero"))
    } else {
        Ok(n)
    }
}

#[scoped]
async fn question_mark(n: u64) -> Result<u64, AppError> {
    let n = check(n)?;
    Ok(n + 1)
}

#[tokio::test]
async fn scoped_question_mark_returns_the_body_error_unchanged() {
    assert_eq!(question_mark(1).await.unwrap(), 2);
    assert!(matches!(question_mark(0).await, Err(AppError::Own("zero"))));
}

#[scoped]
async fn task_fails_under_cancel() -> Result<(), AppError> {
    scope.spawn(|_| async { failing("disk full") });
    // The failure cancels the scope; the body sees it through its signal.
    scope.signal().cancelled().await;
    Ok(())
}

#[tokio::test]
async fn scoped_converts_a_scope_failure_with_from() {
    let err = task_fails_under_cancel().await.unwrap_err();
    assert_eq!(scope_reason(&err), "task failed");
    let AppError::Scope(err) = err else {
        unreachable!()
    };
    assert_eq!(err.failures().len(), 1);
    assert_eq!(err.failures()[0].kind(), TaskKind::Normal);
}

#[scoped]
async fn scope_fails_first() -> Result<(), AppError> {
    scope.spawn_critical(|_| async { failing("critical") });
    scope.signal().cancelled().await;
    // The scope has already failed: this error is not the one the caller sees.
    Err(AppError::Own("too late"))
}

#[tokio::test]
async fn scoped_scope_error_wins_when_the_scope_failed_first() {
    let err = scope_fails_first().await.unwrap_err();
    assert_eq!(scope_reason(&err), "critical task failed");
}

#[scoped]
async fn default_policy() -> Result<Policy, AppError> {
    Ok(scope.policy())
}

#[scoped(policy = "cancel")]
async fn cancel_policy() -> Result<Policy, AppError> {
    Ok(scope.policy())
}

#[scoped(policy = "supervise")]
async fn supervised() -> Result<(Policy, usize), AppError> {
    let h = scope.spawn(|_| async { failing("supervised") });
    let failed = matches!(h.await, Err(TaskError::Failed(_)));
    assert!(failed);
    Ok((scope.policy(), scope.errors().len()))
}

#[tokio::test]
async fn scoped_policies() {
    assert_eq!(default_policy().await.unwrap(), Policy::Cancel);
    assert_eq!(cancel_policy().await.unwrap(), Policy::Cancel);
    assert_eq!(supervised().await.unwrap(), (Policy::Supervise, 1));
}

#[scoped(name = "slow", timeout_ms = 50)]
async fn times_out() -> Result<Option<String>, AppError> {
    let name = scope.name().map(str::to_owned);
    let h = scope.spawn(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, std::io::Error>(())
    });
    // The timeout cancels the task; the body is not interrupted.
    assert!(matches!(h.await, Err(TaskError::Cancelled)));
    Ok(name)
}

#[tokio::test(start_paused = true)]
async fn scoped_name_and_timeout() {
    let start = tokio::time::Instant::now();
    let err = times_out().await.unwrap_err();
    assert_eq!(scope_reason(&err), "timed out");
    let AppError::Scope(err) = err else {
        unreachable!()
    };
    assert_eq!(err.scope_name(), Some("slow"));
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[scoped(timeout_ms = 50)]
async fn in_time() -> Result<u8, AppError> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn scoped_timeout_not_reached() {
    assert_eq!(in_time().await.unwrap(), 1);
}

struct Counter {
    count: u64,
}

impl Counter {
    #[scoped]
    async fn get(&self) -> Result<u64, AppError> {
        let h = scope.spawn(|_| async { Ok::<_, std::io::Error>(1) });
        Ok(self.count + h.await?)
    }

    #[scoped(policy = "supervise")]
    async fn bump(&mut self, by: impl Into<u64>) -> Result<u64, AppError> {
        self.count += by.into();
        Ok(self.count)
    }
}

trait Load {
    async fn load(&self) -> Result<u64, AppError>;
}

impl Load for Counter {
    #[scoped]
    async fn load(&self) -> Result<u64, AppError> {
        let _ = scope.is_cancelled();
        Ok(self.count * 10)
    }
}

#[tokio::test]
async fn scoped_methods() {
    let mut counter = Counter { count: 1 };
    assert_eq!(counter.get().await.unwrap(), 2);
    assert_eq!(counter.bump(2u8).await.unwrap(), 3);
    assert_eq!(counter.load().await.unwrap(), 30);
}

#[scoped]
async fn generic<'a, T>(items: &'a [T], extra: T) -> Result<(usize, T), AppError>
where
    T: Clone + Send + 'static,
{
    let h = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(extra) });
    Ok((items.len(), h.await?))
}

#[tokio::test]
async fn scoped_generics_and_lifetimes() {
    assert_eq!(generic(&[1, 2, 3], 4).await.unwrap(), (3, 4));
}

#[renamed::scoped(crate = "renamed", policy = "supervise")]
async fn through_renamed_crate() -> Result<Policy, AppError> {
    Ok(scope.policy())
}

#[tokio::test]
async fn scoped_crate_path() {
    assert_eq!(through_renamed_crate().await.unwrap(), Policy::Supervise);
}

#[scoped]
async fn current_is_scope() -> Result<bool, AppError> {
    Ok(Scope::current().is_some_and(|current| current.same_scope(&scope)))
}

#[tokio::test]
async fn scoped_body_runs_inside_its_scope() {
    assert!(current_is_scope().await.unwrap());
}

/// The hand-written equivalent of `task_fails_under_cancel`, from the docs.
async fn task_fails_by_hand() -> Result<(), AppError> {
    let mut slot = None;
    let result = async_scope::with_scope(|scope| {
        let slot = &mut slot;
        async move {
            let body: Result<(), AppError> = async move {
                scope.spawn(|_| async { failing("disk full") });
                scope.signal().cancelled().await;
                Ok(())
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

#[tokio::test]
async fn scoped_matches_the_hand_written_code() {
    let by_macro = task_fails_under_cancel().await.unwrap_err();
    let by_hand = task_fails_by_hand().await.unwrap_err();
    assert_eq!(scope_reason(&by_macro), scope_reason(&by_hand));
}

// === scope! ===

#[tokio::test]
async fn scope_binds_handles_and_returns_the_tail() {
    let base = 10;
    let (a, b, c) = scope! {
        let a = spawn { Ok::<_, std::io::Error>(base + 1) };
        let b: TaskHandle<u32> = spawn critical { Ok::<_, std::io::Error>(2) };
        let c: OptionalHandle<u32> = spawn optional { Ok::<_, std::io::Error>(3) };
        let extra = 100;
        Ok((a.await? + extra, b.await?, c.await))
    }
    .unwrap();
    assert_eq!((a, b, c), (111, 2, Some(3)));
}

#[tokio::test]
async fn scope_without_a_tail_is_ok_unit() {
    let result: Result<(), ScopeError> = scope! {
        spawn { Ok::<_, std::io::Error>(()) }
        let _ = 1;
    };
    result.unwrap();
}

#[tokio::test]
async fn scope_normal_task_failure_depends_on_policy() {
    let err = scope! {
        spawn { failing("cancel policy") }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "task failed");

    let errors = scope! {
        policy = "supervise";
        let h = spawn { failing("supervised") };
        assert!(h.await.is_err());
        Ok(scope.errors().len())
    }
    .unwrap();
    assert_eq!(errors, 1);
}

#[tokio::test]
async fn scope_critical_task_fails_the_scope_under_supervise() {
    let err = scope! {
        policy = "supervise";
        spawn critical { failing("critical") }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "critical task failed");
    assert_eq!(err.failures()[0].kind(), TaskKind::Critical);
}

#[tokio::test]
async fn scope_optional_task_failure_yields_none() {
    let (value, kinds) = scope! {
        let h = spawn optional { failing("optional").map(|()| 1) };
        let value = h.await;
        Ok((value, scope.errors().iter().map(|f| f.kind()).collect::<Vec<_>>()))
    }
    .unwrap();
    assert_eq!(value, None);
    assert_eq!(kinds, [TaskKind::Optional]);
}

#[tokio::test]
async fn scope_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let err = scope! {
        spawn |signal| {
            let _ = tx.send(signal.clone());
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let token = rx.await?;
        assert!(!token.is_cancelled());
        scope.cancel();
        // The task's signal is cancelled with its scope.
        assert!(token.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_critical_and_optional_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let (tx2, rx2) = oneshot::channel();
    let err = scope! {
        spawn critical |signal| {
            let _ = tx.send(signal);
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        spawn optional |signal: async_scope::CancellationToken| {
            let _ = tx2.send(signal);
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let (a, b) = (rx.await?, rx2.await?);
        scope.cancel();
        assert!(a.is_cancelled() && b.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_tasks_see_scope() {
    let n = scope! {
        let h = spawn {
            let inner = scope.spawn(|_| async { Ok::<_, std::io::Error>(2) });
            Ok::<_, TaskError>(inner.await? * 10)
        };
        Ok(h.await? + 1)
    }
    .unwrap();
    assert_eq!(n, 21);
}

#[tokio::test]
async fn scope_body_question_mark_fails_the_scope() {
    let err = scope! {
        spawn { Ok::<_, std::io::Error>(()) }
        failing("in the body")?;
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "body failed");
    assert_eq!(
        err.to_string(),
        "scope failed: the body failed: in the body"
    );
}

#[tokio::test]
async fn scope_task_error_types_are_inferred() {
    let outcome = scope! {
        policy = "supervise";
        let parsed = spawn {
            let n: u32 = "12".parse()?;
            Ok(n)
        };
        let bad = spawn {
            let n: u32 = "twelve".parse()?;
            Ok(n)
        };
        Ok((parsed.await?, bad.await.is_err()))
    }
    .unwrap();
    assert_eq!(outcome, (12, true));
}

#[tokio::test]
async fn scope_options_reach_the_scope() {
    let (policy, name) = scope! {
        policy = "supervise", name = "options";
        Ok((scope.policy(), scope.name().map(str::to_owned)))
    }
    .unwrap();
    assert_eq!(policy, Policy::Supervise);
    assert_eq!(name.as_deref(), Some("options"));

    let policy = scope! {
        Ok(scope.policy())
    }
    .unwrap();
    assert_eq!(policy, Policy::Cancel);
}

#[tokio::test(start_paused = true)]
async fn scope_timeout() {
    let start = tokio::time::Instant::now();
    let err = scope! {
        timeout_ms = 25, name = "timed";
        let h = spawn {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        };
        assert!(matches!(h.await, Err(TaskError::Cancelled)));
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "timed out");
    assert_eq!(err.scope_name(), Some("timed"));
    assert_eq!(start.elapsed(), Duration::from_millis(25));
}

#[tokio::test]
async fn scope_crate_path() {
    let policy = renamed::scope! {
        crate = "renamed", policy = "supervise";
        Ok(scope.policy())
    }
    .unwrap();
    assert_eq!(policy, Policy::Supervise);
}

#[tokio::test]
async fn scope_nests_as_a_child() {
    let err = scope! {
        let outer = scope.clone();
        let inner = scope! {
            spawn |signal| {
                signal.cancelled().await;
                Ok::<_, std::io::Error>(())
            }
            outer.cancel();
            Ok(())
        };
        Ok(inner.map_err(|e| reason(&e)))
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_in_scoped() {
    #[scoped]
    async fn outer() -> Result<u8, AppError> {
        let n = scope! {
            let h = spawn { Ok::<_, std::io::Error>(1u8) };
            Ok(h.await?)
        }?;
        Ok(n + 1)
    }
    assert_eq!(outer().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_on_a_multi_thread_runtime() {
    let sum = scope! {
        let handles: Vec<_> = (0..8u32).map(|i| scope.spawn(move |_| async move { Ok::<_, std::io::Error>(i) })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }
    .unwrap();
    assert_eq!(sum, 28);
}

/// The same program through `scope!` and by hand: same outcome.
#[tokio::test]
async fn scope_matches_the_hand_written_code() {
    let by_macro = scope! {
        policy = "supervise";
        let a = spawn { failing("a").map(|()| 1) };
        let b = spawn optional { failing("b").map(|()| 2) };
        let c = spawn critical { Ok::<_, std::io::Error>(3) };
        Ok((a.await.is_err(), b.await, c.await?, scope.errors().len()))
    };
    let by_hand = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            let a = scope.spawn(move |_| async move { failing("a").map(|()| 1) });
            let b = scope.spawn_optional(move |_| async move { failing("b").map(|()| 2) });
            let c = scope.spawn_critical(move |_| async move { Ok::<_, std::io::Error>(3) });
            Ok::<_, BoxError>((a.await.is_err(), b.await, c.await?, scope.errors().len()))
        })
        .await;
    assert_eq!(by_macro.unwrap(), by_hand.unwrap());
}

// === grace_ms, max_concurrency, retain_failures ===

/// Records when it is dropped: a task holding one is aborted (or ends) then.
struct DroppedAt(Arc<Mutex<Option<Instant>>>);

impl Drop for DroppedAt {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }
}

/// A task that ignores its signal and sleeps an hour, holding a `DroppedAt`.
async fn stubborn(dropped: Arc<Mutex<Option<Instant>>>) -> Result<(), std::io::Error> {
    let _guard = DroppedAt(dropped);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

/// Runs a stubborn task and shuts the scope down after 10 ms; returns when
/// the shutdown happened, and when the task was dropped.
#[scoped(grace_ms = 250)]
async fn shut_down_with_grace() -> Result<(Instant, Instant), AppError> {
    let dropped = Arc::new(Mutex::new(None));
    let h = scope.spawn({
        let dropped = dropped.clone();
        move |_| stubborn(dropped)
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let shut_at = Instant::now();
    scope.shutdown();
    // the handle yields once the task has ended: aborted, after the grace period
    assert!(matches!(h.await, Err(TaskError::Cancelled)));
    let dropped_at = dropped.lock().unwrap().expect("the task was dropped");
    Ok((shut_at, dropped_at))
}

/// The same without `grace_ms`: the task is aborted at once.
#[scoped]
async fn shut_down_without_grace() -> Result<Instant, AppError> {
    let dropped = Arc::new(Mutex::new(None));
    scope.spawn({
        let dropped = dropped.clone();
        move |_| stubborn(dropped)
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    scope.shutdown();
    Ok(Instant::now())
}

#[tokio::test(start_paused = true)]
async fn scoped_grace_ms_aborts_a_task_after_its_grace_period() {
    let start = Instant::now();
    let (shut_at, dropped_at) = shut_down_with_grace().await.unwrap();
    assert_eq!(shut_at - start, Duration::from_millis(10));
    // the task ignored its signal: aborted exactly 250 ms after the shutdown
    assert_eq!(dropped_at - shut_at, Duration::from_millis(250));
    assert_eq!(start.elapsed(), Duration::from_millis(260));

    let start = Instant::now();
    let shut_at = shut_down_without_grace().await.unwrap();
    assert_eq!(shut_at - start, Duration::from_millis(10));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn scope_grace_ms_aborts_a_task_after_its_grace_period() {
    let dropped = Arc::new(Mutex::new(None));
    let d = dropped.clone();
    let start = Instant::now();
    let cancelled_at = scope! {
        grace_ms = 300;
        let h = spawn { stubborn(d).await };
        tokio::time::sleep(Duration::from_millis(10)).await;
        scope.cancel();
        assert!(matches!(h.await, Err(TaskError::Cancelled)));
        Ok(Instant::now())
    };
    // cancelled, so the scope fails; it ended when the task was aborted
    let err = cancelled_at.unwrap_err();
    assert_eq!(reason(&err), "cancelled");
    let dropped_at = dropped.lock().unwrap().expect("the task was dropped");
    assert_eq!(dropped_at - start, Duration::from_millis(310));
    assert_eq!(start.elapsed(), Duration::from_millis(310));
}

/// Counts the tasks running at once, and the order they start in.
#[derive(Clone, Default)]
struct Tracker {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    started: Arc<Mutex<Vec<u32>>>,
}

impl Tracker {
    /// A task that runs for 10 ms.
    fn task(
        &self,
        i: u32,
    ) -> impl FnOnce(CancellationToken) -> BoxFuture<Result<(), std::io::Error>> + Send + 'static
    {
        let tracker = self.clone();
        move |_| {
            Box::pin(async move {
                let now = tracker.running.fetch_add(1, SeqCst) + 1;
                tracker.peak.fetch_max(now, SeqCst);
                tracker.started.lock().unwrap().push(i);
                tokio::time::sleep(Duration::from_millis(10)).await;
                tracker.running.fetch_sub(1, SeqCst);
                Ok(())
            })
        }
    }

    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    fn started(&self) -> Vec<u32> {
        self.started.lock().unwrap().clone()
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[scoped(max_concurrency = 1)]
async fn one_at_a_time(tracker: Tracker) -> Result<(), AppError> {
    let handles: Vec<_> = (0..4).map(|i| scope.spawn(tracker.task(i))).collect();
    for h in handles {
        h.await?;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn scoped_max_concurrency_runs_tasks_one_at_a_time() {
    let tracker = Tracker::default();
    let start = Instant::now();
    one_at_a_time(tracker.clone()).await.unwrap();
    assert_eq!(tracker.peak(), 1);
    assert_eq!(tracker.started(), [0, 1, 2, 3]);
    assert_eq!(start.elapsed(), Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn scope_max_concurrency_runs_tasks_one_at_a_time() {
    let tracker = Tracker::default();
    let start = Instant::now();
    let t = tracker.clone();
    scope! {
        max_concurrency = 1;
        let handles: Vec<_> = (0..4).map(|i| scope.spawn(t.task(i))).collect();
        for h in handles {
            h.await?;
        }
    }
    .unwrap();
    assert_eq!(tracker.peak(), 1);
    assert_eq!(tracker.started(), [0, 1, 2, 3]);
    assert_eq!(start.elapsed(), Duration::from_millis(40));

    // a limit of 2 lets two run at once
    let tracker = Tracker::default();
    let start = Instant::now();
    let t = tracker.clone();
    scope! {
        max_concurrency = 2;
        let handles: Vec<_> = (0..4).map(|i| scope.spawn(t.task(i))).collect();
        for h in handles {
            h.await?;
        }
    }
    .unwrap();
    assert_eq!(tracker.peak(), 2);
    assert_eq!(tracker.started(), [0, 1, 2, 3]);
    assert_eq!(start.elapsed(), Duration::from_millis(20));
}

/// The message of each failure, in order.
fn messages(failures: &[TaskFailure]) -> Vec<String> {
    failures.iter().map(|f| f.error().to_string()).collect()
}

#[scoped(policy = "supervise", retain_failures = 1)]
async fn keeps_the_last_failure() -> Result<(Vec<String>, usize), AppError> {
    for message in ["first", "second", "third"] {
        let h = scope.spawn(move |_| async move { failing(message) });
        assert!(matches!(h.await, Err(TaskError::Failed(_))));
    }
    Ok((messages(&scope.errors()), scope.failure_count()))
}

#[tokio::test]
async fn scoped_retain_failures_keeps_only_the_last_failure() {
    let (kept, count) = keeps_the_last_failure().await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].contains("third"), "{kept:?}");
    assert_eq!(count, 3);
}

#[tokio::test]
async fn scope_retain_failures_keeps_only_the_last_failure() {
    let (kept, count) = scope! {
        policy = "supervise", retain_failures = 1;
        let first = spawn { failing("first") };
        assert!(first.await.is_err());
        let second = spawn { failing("second") };
        assert!(second.await.is_err());
        let third = spawn optional { failing("third") };
        assert_eq!(third.await, None);
        Ok((messages(&scope.errors()), scope.failure_count()))
    }
    .unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].contains("third"), "{kept:?}");
    assert_eq!(count, 3);

    // 0 keeps none, and still counts them
    let (kept, count) = scope! {
        policy = "supervise", retain_failures = 0;
        let first = spawn { failing("first") };
        assert!(first.await.is_err());
        Ok((scope.errors().len(), scope.failure_count()))
    }
    .unwrap();
    assert_eq!((kept, count), (0, 1));
}

/// All three together, with the others, in both macros.
#[scoped(
    policy = "supervise",
    name = "server",
    grace_ms = 100,
    max_concurrency = 2,
    retain_failures = 2
)]
async fn server(tracker: Tracker) -> Result<(Vec<String>, usize), AppError> {
    for i in 0..4 {
        scope.spawn(tracker.task(i));
    }
    for message in ["a", "b", "c"] {
        let _ = scope.spawn(move |_| async move { failing(message) }).await;
    }
    Ok((messages(&scope.errors()), scope.failure_count()))
}

#[tokio::test(start_paused = true)]
async fn long_lived_options_together() {
    let tracker = Tracker::default();
    let (kept, count) = server(tracker.clone()).await.unwrap();
    assert_eq!(tracker.peak(), 2);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].contains('b') && kept[1].contains('c'), "{kept:?}");
    assert_eq!(count, 3);

    let tracker = Tracker::default();
    let t = tracker.clone();
    let kept = scope! {
        policy = "supervise", name = "server", grace_ms = 100, max_concurrency = 2, retain_failures = 2;
        for i in 0..4 {
            scope.spawn(t.task(i));
        }
        spawn { failing("a") }
        spawn { failing("b") }
        scope.wait_for_completion().await?;
        Ok(scope.errors().len())
    }
    .unwrap();
    assert_eq!(tracker.peak(), 2);
    assert_eq!(kept, 2);
}

// === the examples of the macros' documentation ===

async fn load_rows(signal: &async_scope::CancellationToken) -> Result<Vec<u8>, std::io::Error> {
    assert!(!signal.is_cancelled());
    Ok(vec![1, 2, 3])
}

async fn send_metrics() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("metrics are down"))
}

async fn totals(orders: Vec<u32>) -> Result<(u32, usize), BoxError> {
    let (sum, count) = scope! {
        policy = "supervise";
        let sum = spawn { Ok(orders.iter().sum::<u32>()) };
        let count = spawn critical |signal| {
            let rows = load_rows(&signal).await?;   // any error type
            Ok(rows.len())
        };
        spawn optional { send_metrics().await };
        Ok((sum.await?, count.await?))
    }?;
    Ok((sum, count))
}

#[tokio::test]
async fn scope_documentation_example() {
    assert_eq!(totals(vec![1, 2, 3]).await.unwrap(), (6, 3));
}

#[scoped(policy = "supervise", timeout_ms = 500)]
async fn load(id: u64) -> Result<u64, AppError> {
    let user = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(id * 2) });
    Ok(user.await?)
}

#[tokio::test(start_paused = true)]
async fn scoped_documentation_example() {
    assert_eq!(load(4).await.unwrap(), 8);
}

// === Send ===

fn assert_send<T: Send>(value: T) -> T {
    value
}

async fn scope_in_a_function() -> Result<u8, ScopeError> {
    scope! {
        let h = spawn { Ok::<_, std::io::Error>(1u8) };
        Ok(h.await?)
    }
}

/// Both macros keep futures `Send` when the body is, so they can be spawned
/// onto a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_stay_send() {
    let scoped = tokio::spawn(assert_send(doubled(2)));
    let scope = tokio::spawn(assert_send(scope_in_a_function()));
    assert_eq!(scoped.await.unwrap().unwrap(), 4);
    assert_eq!(scope.await.unwrap().unwrap(), 1);
}

// === with other attributes ===

/// `#[scoped]` above `#[tokio::test]`: the test body runs in a scope.
#[scoped(policy = "supervise")]
#[tokio::test]
async fn scoped_test_function() -> Result<(), AppError> {
    assert_eq!(scope.policy(), Policy::Supervise);
    let h = scope.spawn(|_| async { Ok::<_, std::io::Error>(1) });
    assert_eq!(h.await?, 1);
    Ok(())
}

// === spawns in the body's control flow ===

/// `spawn` statements in a `for` loop start tasks of the scope: their
/// results add up, and each is cancelled with the scope.
#[tokio::test(start_paused = true)]
async fn spawns_in_a_for_loop_are_tasks_of_the_scope() {
    let urls: Vec<u64> = vec![1, 2, 3, 4];
    let sum: Result<u64, ScopeError> = scope! {
        let mut handles = Vec::new();
        for u in urls.clone() {
            let h = spawn { doubled(u).await };
            handles.push(h);
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    };
    assert_eq!(sum.unwrap(), 20);

    let tokens: Arc<Mutex<Vec<CancellationToken>>> = Arc::default();
    let seen = Arc::clone(&tokens);
    let start = Instant::now();
    let result: Result<(), ScopeError> = scope! {
        for _ in 0..3 {
            let tokens = Arc::clone(&tokens);
            spawn |signal| {
                tokens.lock().unwrap().push(signal.clone());
                signal.cancelled().await;
                Ok::<_, TaskError>(())
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(tokens.lock().unwrap().len(), 3);
        assert!(tokens.lock().unwrap().iter().all(|t| !t.is_cancelled()));
        scope.cancel();
        Ok(())
    };
    assert_eq!(reason(&result.unwrap_err()), "cancelled");
    let tokens = seen.lock().unwrap();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(CancellationToken::is_cancelled));
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// In `if`/`else` and `match`, only the chosen branch spawns its task.
#[tokio::test(start_paused = true)]
async fn branches_spawn_only_the_chosen_task() {
    async fn pick(n: u64) -> Vec<&'static str> {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ran);
        let result: Result<(), ScopeError> = scope! {
            if n == 0 {
                let ran = Arc::clone(&ran);
                spawn { ran.lock().unwrap().push("if"); Ok::<_, TaskError>(()) }
            } else if n == 1 {
                let ran = Arc::clone(&ran);
                spawn critical { ran.lock().unwrap().push("else if"); Ok::<_, TaskError>(()) };
            } else {
                let ran = Arc::clone(&ran);
                spawn optional { ran.lock().unwrap().push("else"); Ok::<_, TaskError>(()) };
            }
            let ran = Arc::clone(&ran);
            match n {
                0 => spawn { ran.lock().unwrap().push("arm 0"); Ok::<_, TaskError>(()) },
                1 => {
                    let h = spawn { ran.lock().unwrap().push("arm 1"); Ok::<_, TaskError>(()) };
                    h.await?;
                }
                _ => {}
            }
            scope.wait_for_completion().await?;
            Ok(())
        };
        result.unwrap();
        let mut ran = seen.lock().unwrap().clone();
        ran.sort_unstable();
        ran
    }
    assert_eq!(pick(0).await, ["arm 0", "if"]);
    assert_eq!(pick(1).await, ["arm 1", "else if"]);
    assert_eq!(pick(2).await, ["else"]);
}

// === scope! with spawn inline ===

#[tokio::test]
async fn scope_inline_tasks_borrow_from_around_the_scope() {
    let urls = vec!["a".to_string(), "bb".to_string()];
    let total: Result<usize, ScopeError> = scope! {
        let mut handles = Vec::new();
        for u in &urls {
            let h = spawn inline { Ok::<_, std::io::Error>(u.len()) };
            handles.push(h);
        }
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok(total)
    };
    assert_eq!(total.unwrap(), 3);
    // `urls` was only borrowed
    assert_eq!(urls.len(), 2);
    // the same loop with ordinary tasks over owned data (the body, a `move`
    // block, takes `urls`)
    let total = scope! {
        let mut handles = Vec::new();
        for u in urls.clone() {
            let h = spawn { Ok::<_, std::io::Error>(u.len()) };
            handles.push(h);
        }
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok(total)
    }
    .unwrap();
    assert_eq!(total, 3);
}

#[tokio::test]
async fn scope_inline_tasks_share_borrowed_state() {
    let counter = AtomicUsize::new(0);
    let names = vec!["x", "y", "z"];
    let seen = Mutex::new(Vec::new());
    let (counted, seen_ref) = (&counter, &seen);
    scope! {
        for name in &names {
            spawn inline {
                counted.fetch_add(1, SeqCst);
                seen_ref.lock().unwrap().push(*name);
                Ok(())
            }
        }
        spawn inline critical { counted.fetch_add(10, SeqCst); Ok(()) }
        spawn inline optional { counted.fetch_add(100, SeqCst); Ok(()) }
    }
    .unwrap();
    assert_eq!(counter.load(SeqCst), 113);
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, names);
}

#[tokio::test]
async fn scope_inline_kinds_bind_their_handles() {
    let owned = vec!["one".to_string(), "three".to_string()];
    // a task's block is an `async move` one: it borrows through a reference
    let words = &owned;
    let (a, b, c) = scope! {
        let a: TaskHandle<usize> = spawn inline { Ok::<_, std::io::Error>(words[0].len()) };
        let b = spawn inline critical { Ok::<_, std::io::Error>(words[1].len()) };
        let c: OptionalHandle<usize> = spawn inline optional { Ok::<_, std::io::Error>(words.len()) };
        Ok((a.await?, b.await?, c.await))
    }
    .unwrap();
    assert_eq!((a, b, c), (3, 5, Some(2)));
}

#[tokio::test]
async fn scope_inline_critical_task_fails_the_scope_under_supervise() {
    let message = String::from("inline critical");
    let err = scope! {
        policy = "supervise";
        spawn inline { Ok::<_, std::io::Error>(()) }
        spawn inline critical { Err::<(), _>(std::io::Error::other(message.as_str())) }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "critical task failed");
    assert_eq!(err.failures()[0].kind(), TaskKind::Critical);
}

#[tokio::test]
async fn scope_inline_optional_task_failure_yields_none() {
    let (value, kinds) = scope! {
        let h = spawn inline optional { failing("optional").map(|()| 1) };
        let value = h.await;
        Ok((value, scope.errors().iter().map(|f| f.kind()).collect::<Vec<_>>()))
    }
    .unwrap();
    assert_eq!(value, None);
    assert_eq!(kinds, [TaskKind::Optional]);
}

#[tokio::test]
async fn scope_inline_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let err = scope! {
        spawn inline critical |signal| {
            let _ = tx.send(signal.clone());
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let token: CancellationToken = rx.await?;
        assert!(!token.is_cancelled());
        scope.cancel();
        assert!(token.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_inline_options_reach_the_scope() {
    let items = [1u32, 2, 3];
    let (errors, name, total) = scope! {
        policy = "supervise", name = "inline", max_concurrency = 1, retain_failures = 10;
        let bad = spawn inline { failing("supervised").map(|()| 0u32) };
        let mut handles = Vec::new();
        for item in &items {
            let h = spawn inline { Ok::<_, std::io::Error>(*item) };
            handles.push(h);
        }
        assert!(bad.await.is_err());
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok((scope.errors().len(), scope.name().map(str::to_owned), total))
    }
    .unwrap();
    assert_eq!((errors, name.as_deref(), total), (1, Some("inline"), 6));
}

#[tokio::test]
async fn scope_inline_and_ordinary_spawns_mix() {
    let prefix = String::from("p-");
    let (owned, borrowed, nested) = scope! {
        let prefix_ref = &prefix;
        let owned = spawn { Ok::<_, std::io::Error>(String::from("owned")) };
        let borrowed = spawn inline { Ok::<_, std::io::Error>(format!("{prefix_ref}borrowed")) };
        // an inline task gets its own `inline` to start more inline tasks
        let nested = spawn inline {
            let inner = inline.spawn(move |_| async move { Ok::<_, std::io::Error>(prefix_ref.len()) });
            Ok::<_, TaskError>(inner.await? * 10)
        };
        Ok((owned.await?, borrowed.await?, nested.await?))
    }
    .unwrap();
    assert_eq!(
        (owned.as_str(), borrowed.as_str(), nested),
        ("owned", "p-borrowed", 20)
    );
}
