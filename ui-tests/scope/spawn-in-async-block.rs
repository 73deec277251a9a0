use async_scope::{scope, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        let later = async {
            let h = spawn critical { Ok(1) }; //~ ERROR `spawn` statements of `scope!` cannot stand inside an `async` block
            h.await
        };
        spawn {
            for i in 0..2 {
                spawn { Ok(i) } //~ ERROR `spawn` statements of `scope!` cannot stand inside an `async` block
            }
            Ok(())
        }
        later.await?;
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
