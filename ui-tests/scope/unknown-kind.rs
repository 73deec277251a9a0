use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn critcal { Ok(()) } //~ ERROR unknown task kind `critcal`, expected `critical` or `optional` after `spawn`, did you mean `critical`?
        spawn optinal { Ok(()) } //~ ERROR unknown task kind `optinal`, expected `critical` or `optional` after `spawn`, did you mean `optional`?
        spawn background { Ok(()) } //~ ERROR unknown task kind `background`, expected `critical` or `optional` after `spawn`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
