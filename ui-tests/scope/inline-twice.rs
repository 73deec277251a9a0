use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn inline inline { Ok(()) } //~ ERROR duplicate `inline`, write it once: `spawn inline { .. }`
        spawn inline critical inline { Ok(()) } //~ ERROR duplicate `inline`, write it once: `spawn inline { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
