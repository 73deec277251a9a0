use async_scope::{scoped, BoxError};

#[scoped(timeout_ms = 0)] //~ ERROR `timeout_ms` must be at least 1, a scope without a timeout leaves `timeout_ms` out
async fn never() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
