use async_scope::{scoped, BoxError};

#[scoped(policy =)] //~ ERROR expected `"cancel"` or `"supervise"` after `policy =`
async fn end() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = , name = "x")] //~ ERROR expected a number of milliseconds after `timeout_ms =`
async fn middle() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
