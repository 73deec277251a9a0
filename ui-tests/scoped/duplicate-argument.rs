use async_scope::{scoped, BoxError};

#[scoped(policy = "cancel", name = "a", policy = "supervise")] //~ ERROR duplicate `policy` argument
async fn twice() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
