use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn critical inline { Ok(()) } //~ ERROR `inline` comes right after `spawn`, before the kind: write `spawn inline critical { .. }`
        let h = spawn optional inline |signal| { Ok(signal.is_cancelled()) }; //~ ERROR `inline` comes right after `spawn`, before the kind: write `spawn inline optional |signal| { .. }`
        h.await;
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
