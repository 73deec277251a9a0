use async_scope::{scope, BoxError};

async fn run(eager: bool) -> Result<(), BoxError> {
    scope! {
        if eager {
            spawn { Ok(()) } //~ ERROR `spawn { .. }` is a statement of `scope!` only at its top level; in a nested block, call `scope.spawn(move |_| async move { .. })`
        }
    }?;
    Ok(())
}

fn main() {
    let _ = run(true);
}
