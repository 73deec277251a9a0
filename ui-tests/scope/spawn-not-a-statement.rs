use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        let handles = vec![1];
        if handles.is_empty() {
            drop(spawn { Ok(()) }); //~ ERROR a `spawn` of `scope!` is a statement
        }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
