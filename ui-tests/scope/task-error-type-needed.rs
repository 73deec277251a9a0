use async_scope::{scope, BoxError};

fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

// A task that uses `?` and also `return`s keeps its error type as written,
// so, as with any async block, rustc asks for it to be named.
async fn run() -> Result<(), BoxError> {
    scope! {
        spawn {
            let n = parse("1")?;
            if n > 1 {
                return Ok(n);
            }
            Ok(0)
        }
    }?;
    Ok(())
}

fn main() {
    let _ = run();
}
