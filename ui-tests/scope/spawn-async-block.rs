use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn async move { Ok(()) } //~ ERROR the task's block is already an `async move` block, write `spawn { .. }`
        spawn critical async { Ok(()) } //~ ERROR the task's block is already an `async move` block, write `spawn { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
