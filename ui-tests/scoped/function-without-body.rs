use async_scope::{scoped, BoxError};

trait Load {
    #[scoped]
    async fn load(&self) -> Result<(), BoxError>; //~ ERROR `#[scoped]` requires a function body, put it on the function's definition
}

fn main() {}
