use async_scope::{scope, ScopeError};

// The macro awaits its scope, so it needs async code.
fn run() -> Result<(), ScopeError> {
    scope! {
        spawn { Ok(()) }
    }
}

fn main() {
    let _ = run();
}
