use async_scope::scoped;

#[derive(Debug)]
struct AppError;

// rustc's own error points at the return type.
#[scoped]
async fn run() -> Result<(), AppError> { //~ ERROR the trait bound `AppError: From<ScopeError>` is not satisfied
    Err(AppError)
}

fn main() {}
