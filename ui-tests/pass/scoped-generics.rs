// Generics, `where` clauses, `impl Trait` arguments, lifetimes, inner
// attributes, and a return type alias whose name ends in `Result`.
#![deny(warnings)]

use std::fmt::Display;

use async_scope::{scoped, BoxError};

type AppResult<T> = Result<T, BoxError>;

#[scoped]
async fn generic<T, U>(t: T, u: U) -> Result<(T, String), BoxError>
where
    T: Send + 'static,
    U: Display,
{
    let shown = u.to_string();
    let h = scope.spawn(move |_| async move { Ok::<_, BoxError>(t) });
    Ok((h.await?, shown))
}

#[scoped]
async fn borrowed<'a>(text: &'a str, extra: impl Display) -> AppResult<&'a str> {
    #![allow(unused_variables)]
    let unused = extra.to_string();
    Ok(text)
}

#[scoped]
async fn elided(text: &str) -> Result<&str, BoxError> {
    Ok(text.trim())
}

#[scoped]
async fn returns_impl_trait() -> Result<impl Display, BoxError> {
    Ok(5)
}

fn main() {
    let _ = generic(1, "x");
    let _ = borrowed("a", 1);
    let _ = elided(" a ");
    let _ = returns_impl_trait();
}
