use async_scope::scoped;

// `#[tokio::test]` runs first and hands `#[scoped]` a non-async function.
#[tokio::test]
#[scoped]
async fn wrong_order() -> Result<(), async_scope::BoxError> { //~ ERROR `#[scoped]` requires an `async fn`; put `#[scoped]` above `#[tokio::test]`, which makes the function non-async
    Ok(())
}

fn main() {}
