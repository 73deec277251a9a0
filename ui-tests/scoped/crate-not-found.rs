use async_scope::{scoped, BoxError};

// rustc's own error points at the literal.
#[scoped(crate = "not_async_scope")] //~ ERROR cannot find module or crate `not_async_scope` in this scope
async fn run() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
