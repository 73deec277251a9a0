use async_scope::scope;

async fn run() -> Result<(), async_scope::ScopeError> {
    scope! {} //~ ERROR empty `scope!`, expected statements such as `spawn { .. }`, and an optional tail expression
}

fn main() {
    let _ = run();
}
