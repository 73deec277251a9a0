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

#[scoped(grace_ms = 500)]
async fn grace() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(max_concurrency = 8)]
async fn limited() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retain_failures = 100)]
async fn retained() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(grace_ms = 0, retain_failures = 0usize, max_concurrency = 1)]
async fn zeros() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(
    retain_failures = 100,
    max_concurrency = 8,
    policy = "supervise",
    grace_ms = 500,
    timeout_ms = 1_000,
    name = "server",
    crate = "async_scope",
)]
async fn long_lived() -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    let _ = (cancel(), supervise(), named(), timed(), everything());
    let _ = (grace(), limited(), retained(), zeros(), long_lived());
}
