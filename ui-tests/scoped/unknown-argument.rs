use async_scope::{scoped, BoxError};

#[scoped(polcy = "supervise")] //~ ERROR unknown argument `polcy`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `policy`?
async fn close() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retries = 3)] //~ ERROR unknown argument `retries`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`
async fn far() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
