use async_scope::{scoped, BoxError};

#[scoped(supervise)] //~ ERROR expected `policy = "supervise"`, a policy is given as a string
async fn bare() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
