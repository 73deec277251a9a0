// `#[scoped]` above `#[tokio::main]`: the program's body runs in a scope.
// trybuild runs this one.
#![deny(warnings)]

use async_scope::{scoped, BoxError, Policy};

#[scoped(policy = "supervise", name = "main")]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    assert_eq!(scope.policy(), Policy::Supervise);
    assert_eq!(scope.name(), Some("main"));
    let h = scope.spawn(|_| async { Ok::<_, BoxError>(21) });
    assert_eq!(h.await? * 2, 42);
    Ok(())
}
