//! `scope!` and `#[scoped]` against the engine calls they expand to,
//! written by hand (the "Equivalent code" of each macro's docs): N scopes
//! in sequence, each spawning and joining one task, as `nested`.

use std::convert::Infallible;
use std::fmt;
use std::time::{Duration, Instant};

use async_scope::{scope, scoped, with_scope, Reason, ScopeError, TaskError};

use crate::check::{check, expected_sum};
use crate::peers::Peer;

/// The error of `#[scoped]` functions.
#[derive(Debug)]
enum AppError {
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
pub(crate) async fn macro_overhead(peer: Peer, n: u64, by_hand_attr: bool) -> Duration {
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
