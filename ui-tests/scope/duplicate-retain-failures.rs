use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        retain_failures = 10, policy = "supervise", retain_failures = 0; //~ ERROR duplicate `retain_failures` option
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
