use async_scope::{scoped, BoxError};

#[scoped(max_concurrency = 4, grace_ms = 10, max_concurrency = 8)] //~ ERROR duplicate `max_concurrency` argument
async fn twice() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
