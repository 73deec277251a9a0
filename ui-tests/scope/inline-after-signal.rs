use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn critical |signal| inline { Ok(()) } //~ ERROR `inline` comes right after `spawn`, before the signal: `spawn inline critical |signal| { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
