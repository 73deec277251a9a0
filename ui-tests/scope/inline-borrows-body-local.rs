// An inline task may borrow what the code around `scope!` owns, not what the
// body itself owns: the body's locals end before its tasks do.
use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        let local = vec![1, 2, 3];
        for n in &local {
            spawn inline { Ok(*n) } //~ ERROR borrowed data escapes outside of async block
        }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
