use std::rc::Rc;

use async_scope::{scope, BoxError};

// rustc's own error points at the task's block and the value held across `.await`.
async fn run() -> Result<(), BoxError> {
    scope! {
        spawn {
            let shared = Rc::new(1);
            tokio::task::yield_now().await;
            Ok(*shared)
        }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
