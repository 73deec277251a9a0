use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn |a, b| { Ok(()) } //~ ERROR expected `|` after the signal, a task takes one signal: `|signal|`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
