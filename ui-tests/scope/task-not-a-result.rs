use async_scope::{scope, BoxError};

// rustc's own error points at the task's block.
async fn run() -> Result<(), BoxError> {
    scope! {
        spawn { 42 }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
