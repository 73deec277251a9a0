use async_scope::{scoped, BoxError};

#[scoped]
async fn run(scope: u32) -> Result<u32, BoxError> { //~ ERROR this parameter would be hidden by the `scope` that `#[scoped]` binds in the body, rename it
    Ok(scope)
}

fn main() {}
