use async_scope::{scoped, BoxError};

#[scoped(polcy = "supervise")] //~ ERROR unknown argument `polcy`, expected `policy`, `name`, `timeout_ms` or `crate`, did you mean `policy`?
async fn close() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retries = 3)] //~ ERROR unknown argument `retries`, expected `policy`, `name`, `timeout_ms` or `crate`
async fn far() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
