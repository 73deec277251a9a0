use async_scope::{scoped, BoxError};

#[scoped(max_concurrency = 0)] //~ ERROR `max_concurrency` must be at least 1, a scope without a limit leaves `max_concurrency` out
async fn stalled() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(policy = "supervise", max_concurrency = 0usize)] //~ ERROR `max_concurrency` must be at least 1
async fn suffixed() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
