use async_scope::scoped;

#[scoped]
struct Loader; //~ ERROR `#[scoped]` requires an `async fn`, found a `struct`

#[scoped]
impl Loader {} //~ ERROR `#[scoped]` requires an `async fn`, found an `impl` block

#[scoped]
const LIMIT: u8 = 1; //~ ERROR `#[scoped]` requires an `async fn`, found a `const`

fn main() {
    let _ = (Loader, LIMIT);
}
