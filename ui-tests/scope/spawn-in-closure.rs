use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        let start = |n: u32| {
            spawn { Ok(n) } //~ ERROR `spawn` statements of `scope!` cannot stand inside a closure
        };
        start(1);
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
