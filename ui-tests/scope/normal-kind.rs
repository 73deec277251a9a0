use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn normal { Ok(()) } //~ ERROR `spawn` alone starts a normal task, remove `normal`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
