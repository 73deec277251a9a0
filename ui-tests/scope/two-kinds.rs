use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn critical optional { Ok(()) } //~ ERROR a task has one kind, found both `critical` and `optional`
        spawn optional optional { Ok(()) } //~ ERROR duplicate task kind `optional`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
