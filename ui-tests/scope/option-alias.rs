use async_scope::{scope, BoxError};

// Likely guesses at the names of `grace_ms`, `max_concurrency` and `retain_failures`.
async fn grace() -> Result<(), BoxError> {
    scope! {
        grace = 5; //~ ERROR unknown option `grace`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `grace_ms`?
        spawn { Ok(()) }
    }?;
    Ok(())
}

async fn limit() -> Result<(), BoxError> {
    scope! {
        limit = 4, max_failures = 10;
        //~^ ERROR unknown option `limit`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `max_concurrency`?
        //~| ERROR unknown option `max_failures`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `retain_failures`?
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = (grace(), limit());
}
