//! The long-lived options of both macros, `grace_ms`, `max_concurrency` and
//! `retain_failures` (SPEC.md "Long-lived scopes (servers) and blocking work",
//! its last paragraph, and "Macros").

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{scope, scoped, CancellationToken, TaskError, TaskFailure};
use tokio::time::Instant;

use crate::support::*;

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
