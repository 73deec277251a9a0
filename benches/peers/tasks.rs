//! The task bodies the workloads share, and the wrapper a TaskTracker + token
//! user writes around each task.

use std::convert::Infallible;
use std::fmt;
use std::future::{pending, Future};
use std::pin::Pin;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::check::{park, DropGuard, ALL_PARKED, FAILED_AT};

/// The error of failing tasks.
#[derive(Debug)]
pub(crate) struct BenchError(u64);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} failed", self.0)
    }
}

impl std::error::Error for BenchError {}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A task that parks forever once polled; its future holds a drop guard.
pub(crate) fn parked_forever() -> impl Future<Output = Result<(), BenchError>> + Send + 'static {
    let guard = DropGuard;
    async move {
        let _guard = guard;
        park();
        pending().await
    }
}

/// A task that fails once every `parked_forever` task is parked.
pub(crate) async fn fail_when_parked() -> Result<(), BenchError> {
    ALL_PARKED.notified().await;
    *FAILED_AT.lock().unwrap() = Some(Instant::now());
    Err(BenchError(0))
}

/// The trivial task of spawn_join: its own index.
pub(crate) async fn trivial(i: u64) -> Result<u64, Infallible> {
    Ok(i)
}

/// One task in ten fails (supervise_errors).
pub(crate) async fn tenth_fails(i: u64) -> Result<u64, BenchError> {
    if i % 10 == 0 {
        Err(BenchError(i))
    } else {
        Ok(i)
    }
}

/// What a TaskTracker + token user writes around each task: stop when the
/// token is cancelled, and (fail-fast) cancel the token when the task fails.
/// `None` means cancelled.
pub(crate) async fn tracked<F, T, E>(
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
