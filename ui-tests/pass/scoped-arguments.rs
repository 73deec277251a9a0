// Every argument, alone and together, in any order, with a trailing comma.
#![deny(warnings)]

use async_scope::{scoped, BoxError};

#[scoped(policy = "cancel")]
async fn cancel() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(policy = "supervise")]
async fn supervise() -> Result<(), BoxError> {
    scope.spawn(|_| async { Err::<(), _>("ignored under supervise") });
    Ok(())
}

#[scoped(name = "load")]
async fn named() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = 250)]
async fn timed() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = 1_000u64, name = "all", crate = "async_scope", policy = "supervise",)]
async fn everything() -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    let _ = (cancel(), supervise(), named(), timed(), everything());
}
