use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn inline critcal { Ok(()) } //~ ERROR unknown task kind `critcal`, expected `critical` or `optional` after `spawn inline`, did you mean `critical`?
        spawn inline background { Ok(()) } //~ ERROR unknown task kind `background`, expected `critical` or `optional` after `spawn inline`
        spawn inlne { Ok(()) } //~ ERROR unknown word `inlne` after `spawn`, did you mean `inline`?
        spawn inline normal { Ok(()) } //~ ERROR `spawn inline` alone starts a normal task, remove `normal`
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
