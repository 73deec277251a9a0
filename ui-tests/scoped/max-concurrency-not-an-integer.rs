use async_scope::{scoped, BoxError};

#[scoped(max_concurrency = "8")] //~ ERROR expected an integer, not a string, write `max_concurrency = 8`
async fn string() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(max_concurrency = -4)] //~ ERROR `max_concurrency` must be positive
async fn negative() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(max_concurrency = true)] //~ ERROR expected a positive whole number of tasks, such as `max_concurrency = 8`
async fn boolean() -> Result<(), BoxError> {
    Ok(())
}

const LIMIT: usize = 4;

#[scoped(max_concurrency = LIMIT)] //~ ERROR expected a positive whole number of tasks, such as `max_concurrency = 8`
async fn constant() -> Result<(), BoxError> {
    let _ = LIMIT;
    Ok(())
}

#[scoped(max_concurrency = 18446744073709551616)] //~ ERROR `max_concurrency` is too large, it must fit in a `usize`
async fn huge() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
