// `scope!` with `crate = "..."` naming a renamed crate.
#![deny(warnings)]

extern crate async_scope as renamed;

async fn run() -> Result<u8, renamed::ScopeError> {
    renamed::scope! {
        crate = "renamed";
        let h = spawn { Ok(1u8) };
        Ok(h.await?)
    }
}

fn main() {
    let _ = run();
}
