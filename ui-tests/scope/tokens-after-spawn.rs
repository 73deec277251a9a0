use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn { Ok(1) }.await; //~ ERROR a `spawn` statement ends after its block; to use the handle, bind it: `let handle = spawn { .. };`
    }?;
    Ok(())
}

async fn binding() -> Result<(), BoxError> {
    scope! {
        let h = spawn { Ok(1) } //~ ERROR expected `;` after the spawn's block
        h.await?;
    }?;
    Ok(())
}

fn main() {
    let _ = (run(), binding());
}
