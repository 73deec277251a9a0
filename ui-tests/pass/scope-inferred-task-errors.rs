// Tasks whose block ends in `Ok(..)` with no `return` need no error type,
// even with `?` in them; the body needs none either.
#![deny(warnings)]

use async_scope::{scope, BoxError};

fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

async fn run() -> Result<u32, BoxError> {
    let n = scope! {
        let a = spawn { Ok(1) };
        let b = spawn {
            let n = parse("2")?;
            println!("parsed {n}");
            Ok(n)
        };
        let c = spawn critical |signal| {
            if signal.is_cancelled() {
                Err(std::io::Error::other("cancelled"))?;
            }
            Ok(3)
        };
        let d = parse("4")?;
        Ok(a.await? + b.await? + c.await? + d)
    }?;
    Ok(n)
}

fn main() {
    let _ = run();
}
