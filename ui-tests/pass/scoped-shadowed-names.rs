// Hygiene: modules named `core` and `std`, and local names the expansion
// uses internally, do not break the expansion.
#![deny(warnings)]
#![allow(dead_code, non_snake_case)]

mod core {}
mod std {}

use async_scope::{scoped, BoxError};

#[derive(Debug)]
struct Result;

#[scoped]
async fn run(__async_scope_slot: u8) -> ::core::result::Result<u8, BoxError> {
    let __async_scope_value = __async_scope_slot;
    let Option = 1;
    Ok(__async_scope_value + Option)
}

fn main() {
    let _ = run(1);
}
