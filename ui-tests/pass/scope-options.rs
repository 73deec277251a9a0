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
    scope! {
        grace_ms = 500, max_concurrency = 8, retain_failures = 100;
        spawn { Ok::<_, std::io::Error>(()) }
    }?;
    scope! {
        grace_ms = 0, retain_failures = 0, max_concurrency = 1usize,;
        spawn { Ok::<_, std::io::Error>(()) }
    }?;
    scope! {
        policy = "supervise", name = "all", timeout_ms = 1_000, grace_ms = 50u64,
        max_concurrency = 2, retain_failures = 10, crate = "async_scope";
        spawn { Ok::<_, std::io::Error>(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
