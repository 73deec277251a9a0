use async_scope::{scoped, BoxError};

#[scoped(crate = "async scope")] //~ ERROR invalid `crate` path `async scope`, expected a path such as `async_scope` or `::deps::async_scope`
async fn spaced() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(crate = async_scope)] //~ ERROR expected a string literal, write `crate = "async_scope"`
async fn bare() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
