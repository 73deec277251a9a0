use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        policy = "supervise"
        spawn { Ok(()) }; //~ ERROR expected `,` or `;` after the value of `policy`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
