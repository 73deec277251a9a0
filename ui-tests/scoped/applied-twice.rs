use async_scope::{scoped, BoxError};

#[scoped]
#[scoped(policy = "supervise")] //~ ERROR `#[scoped]` is applied more than once
async fn run() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
