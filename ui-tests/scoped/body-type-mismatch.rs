use async_scope::{scoped, BoxError};

// rustc's own errors inside the body point at the user's code.
#[scoped]
async fn count() -> Result<u32, BoxError> {
    Ok("three") //~ ERROR mismatched types
}

#[scoped]
async fn early() -> Result<u32, BoxError> {
    if scope.is_cancelled() {
        return Ok(-1i8); //~ ERROR mismatched types
    }
    Ok(1)
}

fn main() {}
