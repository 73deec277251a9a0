use async_scope::{scoped, BoxError};

#[scoped(policy = "supervize")] //~ ERROR unknown policy `supervize`, expected `cancel` or `supervise`, did you mean `supervise`?
async fn close() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(policy = "restart")] //~ ERROR unknown policy `restart`, expected `cancel` or `supervise`
async fn far() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
