use async_scope::{scoped, BoxError};

#[scoped(timeout = 500)] //~ ERROR unknown argument `timeout`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `timeout_ms`?
async fn timed() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(supervise = true)] //~ ERROR unknown argument `supervise`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `policy = "supervise"`?
async fn flag() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
