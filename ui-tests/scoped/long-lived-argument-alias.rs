use async_scope::{scoped, BoxError};

// Likely guesses at the names of `grace_ms`, `max_concurrency` and `retain_failures`.
#[scoped(grace = 500)] //~ ERROR unknown argument `grace`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `grace_ms`?
async fn grace() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(concurrency = 8)] //~ ERROR unknown argument `concurrency`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `max_concurrency`?
async fn concurrency() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retain = 100)] //~ ERROR unknown argument `retain`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `retain_failures`?
async fn retain() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(max_concurency = 8)] //~ ERROR unknown argument `max_concurency`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `max_concurrency`?
async fn typo() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
