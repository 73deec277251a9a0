use async_scope::scoped;

#[scoped]
async fn count() -> u32 { //~ ERROR `#[scoped]` requires a `Result<T, E>` return type, where `E: From<ScopeError>`
    1
}

#[scoped]
async fn maybe() -> Option<u32> { //~ ERROR `#[scoped]` requires a `Result<T, E>` return type, where `E: From<ScopeError>`
    Some(1)
}

fn main() {}
