use async_scope::{scoped, BoxError};

#[scoped(timeout_ms = "250")] //~ ERROR expected an integer, not a string, write `timeout_ms = 250`
async fn string() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = 1.5)] //~ ERROR expected a whole number of milliseconds, not a float
async fn float() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = -10)] //~ ERROR `timeout_ms` must be positive
async fn negative() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = 5s)] //~ ERROR unexpected suffix `s`, `timeout_ms` is a plain number of milliseconds
async fn seconds() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(timeout_ms = 18446744073709551616)] //~ ERROR `timeout_ms` is too large, it must fit in a `u64`
async fn huge() -> Result<(), BoxError> {
    Ok(())
}

const LIMIT: u64 = 10;

#[scoped(timeout_ms = LIMIT)] //~ ERROR expected a positive whole number of milliseconds, such as `timeout_ms = 500`
async fn constant() -> Result<(), BoxError> {
    let _ = LIMIT;
    Ok(())
}

fn main() {}
