// `scope!` options: each one, all together, trailing comma.
#![deny(warnings)]

use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        policy = "supervise";
        spawn { Err::<(), _>(std::io::Error::other("supervised")) }
    }?;
    scope! {
        policy = "cancel", name = "named", timeout_ms = 100, crate = "async_scope",;
        spawn { Ok::<_, std::io::Error>(()) }
    }?;
    scope! {
        timeout_ms = 5;
        spawn { Ok::<_, std::io::Error>(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
