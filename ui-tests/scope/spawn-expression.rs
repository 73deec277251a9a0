use async_scope::{scope, BoxError};

async fn fetch() -> Result<u32, BoxError> {
    Ok(1)
}

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn fetch(); //~ ERROR `spawn` takes a block, such as `spawn { fetch(..).await }`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
