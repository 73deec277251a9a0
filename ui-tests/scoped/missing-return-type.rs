use async_scope::scoped;

#[scoped]
async fn run() { //~ ERROR `#[scoped]` requires a return type `Result<T, E>`, where `E: From<ScopeError>`
    scope.cancel();
}

fn main() {}
