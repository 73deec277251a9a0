use async_scope::{scope, BoxError};

async fn run(words: &[String]) -> Result<(), BoxError> {
    scope! {
        for w in words {
            let h = spawn inline { Ok(w.len()) };
            drop(h);
        }
        spawn critical |signal| inline { Ok(()) } //~ ERROR `inline` comes right after `spawn`, before the signal: `spawn inline critical |signal| { .. }`
    }?;
    Ok(())
}

fn main() {
    let _ = run(&[]);
}
