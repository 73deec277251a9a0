use async_scope::{scoped, BoxError, Policy};

#[scoped(policy = supervise)] //~ ERROR expected a string literal, a policy is written `policy = "supervise"`
async fn ident() -> Result<(), BoxError> {
    Ok(())
}

#[scoped(policy = Policy::Cancel)] //~ ERROR expected a string literal, a policy is written `policy = "cancel"`
async fn path() -> Result<(), BoxError> {
    let _ = Policy::Cancel;
    Ok(())
}

#[scoped(policy = 1)] //~ ERROR expected `"cancel"` or `"supervise"` as the `policy`
async fn number() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
