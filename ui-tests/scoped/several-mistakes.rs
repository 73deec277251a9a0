use async_scope::{scoped, BoxError};

// Independent mistakes are all reported at once.
#[scoped(policy = "supervize", timeout_ms = 0, nmae = "x", policy = "cancel")]
//~^ ERROR unknown policy `supervize`
//~| ERROR `timeout_ms` must be at least 1
//~| ERROR unknown argument `nmae`
//~| ERROR duplicate `policy` argument
fn run() -> u8 {
    //~^ ERROR `#[scoped]` requires an `async fn`
    //~| ERROR `#[scoped]` requires a `Result<T, E>` return type
    1
}

fn main() {
    let _: Result<(), BoxError> = Ok(());
}
