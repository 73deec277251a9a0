use async_scope::{scoped, BoxError};

#[scoped(retain_failures = "all")] //~ ERROR expected an integer, not a string
async fn string() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retain_failures = "100")] //~ ERROR expected an integer, not a string, write `retain_failures = 100`
async fn quoted() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retain_failures = 1.5)] //~ ERROR expected a whole number of failures, not a float
async fn float() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(retain_failures = 18446744073709551616)] //~ ERROR `retain_failures` is too large, it must fit in a `usize`
async fn huge() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
