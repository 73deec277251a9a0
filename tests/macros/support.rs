//! Helpers shared by the macro tests (SPEC.md "Macros"): the application
//! error `#[scoped]` functions return, and short names of a scope's reason.

use async_scope::{scoped, Reason, ScopeError, TaskError};

/// An application error, as `#[scoped]` functions return.
#[derive(Debug)]
pub(crate) enum AppError {
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
pub(crate) fn reason(err: &ScopeError) -> &'static str {
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
pub(crate) fn scope_reason(err: &AppError) -> &'static str {
    match err {
        AppError::Scope(e) => reason(e),
        other => panic!("expected a scope error, got {other:?}"),
    }
}

pub(crate) fn failing(message: &'static str) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(message))
}

/// A `#[scoped]` function whose one task doubles `n`: the simplest use of the
/// attribute, which several modules call.
#[scoped]
pub(crate) async fn doubled(n: u64) -> Result<u64, AppError> {
    let h = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(n * 2) });
    Ok(h.await?)
}
