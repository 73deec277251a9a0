//! `#[scoped]` (SPEC.md "Macros"): the function's body runs in a scope named
//! `scope`, with the attribute's policy, name and timeout, and gives back its
//! value, its own error, or the scope's failure through `From`.

use std::time::Duration;

use async_scope::{scoped, Policy, Reason, Scope, TaskError, TaskKind};

use crate::support::*;

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
