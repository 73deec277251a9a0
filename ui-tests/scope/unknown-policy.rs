use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        policy = "supervize"; //~ ERROR unknown policy `supervize`, expected `cancel` or `supervise`, did you mean `supervise`?
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
