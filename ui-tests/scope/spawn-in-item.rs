use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        fn helper() {
            spawn { Ok(()) } //~ ERROR `spawn` statements of `scope!` cannot stand inside an item
        }
        helper();
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
