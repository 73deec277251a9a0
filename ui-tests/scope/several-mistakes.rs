use async_scope::{scope, BoxError};

// Independent mistakes are all reported at once, and the rest still expands.
async fn run() -> Result<u32, BoxError> {
    let value = scope! {
        policy = "supervize", timeout_ms = 0;
        //~^ ERROR unknown policy `supervize`
        //~| ERROR `timeout_ms` must be at least 1
        let a = spawn critcal { Ok(1u32) };
        //~^ ERROR unknown task kind `critcal`
        spawn critical optional || { Ok(()) }
        //~^ ERROR a task has one kind, found both `critical` and `optional`
        //~| ERROR expected the signal's name between the bars
        Ok(a.await?)
    }?;
    Ok(value)
}

fn main() {
    let _ = run();
}
