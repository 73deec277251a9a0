// Body shapes: no tail (the result is `Ok(())`), a final `for`/`if`, a tail
// `if`/`else`, a `match`, a macro tail, items and nested scopes.
#![deny(warnings)]

use async_scope::{scope, scoped, BoxError};

async fn run() -> Result<(), BoxError> {
    scope! {
        spawn { Ok(()) }
    }?;
    scope! {
        let v = vec![1, 2];
        for x in v {
            let _ = x;
        }
    }?;
    scope! {
        if scope.is_cancelled() {
            println!("cancelled");
        }
    }?;
    let n: u8 = scope! {
        fn helper() -> u8 { 1 }
        if helper() > 0 { Ok(helper()) } else { Err("zero")? }
    }?;
    let m = scope! {
        match n {
            1 => Ok(1u8),
            _ => Ok(0),
        }
    }?;
    let w: Vec<u8> = scope! {
        let nested = spawn {
            scope! {
                spawn { Ok(()) }
                Ok(m)
            }
        };
        Ok(vec![nested.await?])
    }?;
    let _ = w;
    Ok(())
}

#[scoped]
async fn nested_in_scoped() -> Result<u8, BoxError> {
    let inner = scope! {
        let h = spawn { Ok(1u8) };
        Ok(h.await?)
    }?;
    Ok(inner)
}

fn main() {
    let _ = (run(), nested_in_scoped());
}
