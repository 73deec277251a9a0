// Hygiene: modules named `core` and `std` and a local `Option` do not break
// `scope!`.
#![deny(warnings)]
#![allow(dead_code, non_snake_case)]

mod core {}
mod std {}

use async_scope::scope;

async fn run() -> ::core::result::Result<u8, async_scope::ScopeError> {
    let Option = 1u8;
    let __async_scope_result = 2u8;
    scope! {
        let h = spawn { Ok(Option) };
        Ok(h.await? + __async_scope_result)
    }
}

fn main() {
    let _ = run();
}
