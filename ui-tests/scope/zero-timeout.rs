use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        timeout_ms = 0; //~ ERROR `timeout_ms` must be at least 1, a scope without a timeout leaves `timeout_ms` out
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
