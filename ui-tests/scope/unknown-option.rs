use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        polcy = "supervise"; //~ ERROR unknown option `polcy`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `policy`?
        spawn { Ok(()) }
    }?;
    Ok(())
}

async fn alias() -> Result<(), BoxError> {
    scope! {
        timeout = 100; //~ ERROR unknown option `timeout`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `timeout_ms`?
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = (run(), alias());
}
