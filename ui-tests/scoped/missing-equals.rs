use async_scope::{scoped, BoxError};

#[scoped(policy "supervise")] //~ ERROR expected `=` after `policy`
async fn run() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
