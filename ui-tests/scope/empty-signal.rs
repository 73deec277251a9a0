use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn || { Ok(()) } //~ ERROR expected the signal's name between the bars, such as `|signal|`, or no bars
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
