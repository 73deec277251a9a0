use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn inline |signal| optional { Ok(()) } //~ ERROR the kind comes before the signal: `spawn inline optional |signal| { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
