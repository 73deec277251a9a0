use async_scope::{scope, BoxError};

async fn run(words: &[String]) -> Result<(), BoxError> {
    scope! {
        let start = |w: &String| {
            spawn inline { Ok(w.len()) } //~ ERROR `spawn inline` statements of `scope!` cannot stand inside a closure
        };
        let later = async {
            let h = spawn inline critical { Ok(1) }; //~ ERROR `spawn inline` statements of `scope!` cannot stand inside an `async` block
            h.await
        };
        spawn inline {
            for w in words {
                spawn inline { Ok(w.len()) } //~ ERROR `spawn inline` statements of `scope!` cannot stand inside an `async` block
            }
            Ok(())
        }
        fn helper() {
            spawn inline optional { Ok(()) } //~ ERROR `spawn inline` statements of `scope!` cannot stand inside an item
        }
        let n = Some(spawn inline { Ok(2) }); //~ ERROR a `spawn inline` of `scope!` is a statement
        start(&words[0]);
        helper();
        later.await?;
        drop(n);
    }?;
    Ok(())
}

fn main() {
    let _ = run(&[]);
}
