// `crate = "..."`: a renamed crate, and a re-export through a module.
#![deny(warnings)]

extern crate async_scope as renamed;

use renamed::BoxError;

mod engine {
    pub use ::async_scope::*;
}

#[renamed::scoped(crate = "renamed")]
async fn through_rename() -> Result<(), BoxError> {
    let _ = scope.is_cancelled();
    Ok(())
}

#[renamed::scoped(crate = "crate::engine", policy = "supervise", timeout_ms = 5)]
async fn through_module() -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    let _ = (through_rename(), through_module());
}
