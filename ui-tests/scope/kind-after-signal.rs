use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn |signal| critical { Ok(()) } //~ ERROR the kind comes before the signal: `spawn critical |signal| { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
