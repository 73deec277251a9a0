use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        timeout_ms = 10, name = "a", timeout_ms = 20; //~ ERROR duplicate `timeout_ms` option
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
