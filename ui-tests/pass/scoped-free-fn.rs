// `#[scoped]` on a free function: `scope` in the body, `?` on handles and on
// the function's own errors, early `return`.
#![deny(warnings)]

use async_scope::{scoped, ScopeError, TaskError};

#[derive(Debug)]
enum AppError {
    Scope(ScopeError),
    Task(TaskError),
    Invalid(u64),
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

fn check(id: u64) -> Result<u64, AppError> {
    if id == 0 {
        Err(AppError::Invalid(id))
    } else {
        Ok(id)
    }
}

#[scoped]
async fn load(id: u64) -> Result<u64, AppError> {
    let id = check(id)?;
    if id == 1 {
        return Ok(1);
    }
    let user = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(id * 2) });
    Ok(user.await?)
}

#[scoped]
pub(crate) async fn unused_scope() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (load(1), unused_scope());
    let _ = |e: AppError| match e {
        AppError::Scope(_) | AppError::Task(_) | AppError::Invalid(_) => (),
    };
}
