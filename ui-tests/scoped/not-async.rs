use async_scope::{scoped, ScopeError};

#[derive(Debug)]
struct AppError;
impl From<ScopeError> for AppError {
    fn from(_: ScopeError) -> Self {
        AppError
    }
}

// The body still type-checks with `scope` declared: no error about `scope`.
#[scoped]
fn load() -> Result<(), AppError> { //~ ERROR `#[scoped]` requires an `async fn`
    let _ = scope.is_cancelled();
    Ok(())
}

fn main() {}
