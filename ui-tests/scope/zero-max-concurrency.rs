use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        max_concurrency = 0; //~ ERROR `max_concurrency` must be at least 1, a scope without a limit leaves `max_concurrency` out
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
