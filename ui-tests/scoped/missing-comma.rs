use async_scope::{scoped, BoxError};

#[scoped(policy = "supervise" name = "x")] //~ ERROR expected `,` after the value of `policy`
async fn run() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
