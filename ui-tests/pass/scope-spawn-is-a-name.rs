// `spawn` stays an ordinary name where it is not a spawn statement.
#![deny(warnings)]

use async_scope::{scope, BoxError};

fn spawn(n: u8) -> u8 {
    n
}

async fn run() -> Result<u8, BoxError> {
    let n = scope! {
        let a = spawn(1);
        let spawn = 2;
        let b = spawn as u16;
        let h = scope.spawn(move |_| async move { Ok::<_, BoxError>(a) });
        Ok(h.await? + b as u8)
    }?;
    Ok(n)
}

fn main() {
    let _ = run();
}
