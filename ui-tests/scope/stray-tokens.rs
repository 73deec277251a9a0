use async_scope::{scope, BoxError};

async fn run() -> Result<u32, BoxError> {
    // The statements before the mistake are still type-checked, and the
    // macro's type is inferred from its use: no other error.
    let value: u32 = scope! {
        let a = 1u32;
        spawn { Ok(a) }
        a b //~ ERROR expected semicolon
    }?;
    Ok(value)
}

fn main() {
    let _ = run();
}
