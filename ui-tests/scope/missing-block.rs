use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn { Ok(()) }
        spawn critical; //~ ERROR expected a block after `spawn critical`, such as `spawn critical { .. }`
    }?;
    Ok(())
}

async fn at_end() -> Result<(), BoxError> {
    scope! {
        spawn //~ ERROR expected a block after `spawn`, such as `spawn { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = (run(), at_end());
}
