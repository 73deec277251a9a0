use async_scope::{scoped, BoxError};

#[scoped(grace_ms = "500")] //~ ERROR expected an integer, not a string, write `grace_ms = 500`
async fn string() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(grace_ms = 0.5)] //~ ERROR expected a whole number of milliseconds, not a float
async fn float() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(grace_ms = -1)] //~ ERROR `grace_ms` cannot be negative
async fn negative() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(grace_ms = 2s)] //~ ERROR unexpected suffix `s`, `grace_ms` is a plain number of milliseconds
async fn seconds() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(grace_ms = 18446744073709551616)] //~ ERROR `grace_ms` is too large, it must fit in a `u64`
async fn huge() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
