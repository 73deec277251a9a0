use async_scope::{scope, BoxError};

// Every mistake in the options statement is reported at once.
async fn strings() -> Result<(), BoxError> {
    scope! {
        grace_ms = "500", max_concurrency = "8", retain_failures = "none";
        //~^ ERROR expected an integer, not a string, write `grace_ms = 500`
        //~| ERROR expected an integer, not a string, write `max_concurrency = 8`
        //~| ERROR expected an integer, not a string
        spawn { Ok(()) }
    }?;
    Ok(())
}

async fn huge() -> Result<(), BoxError> {
    scope! {
        retain_failures = 18446744073709551616; //~ ERROR `retain_failures` is too large, it must fit in a `usize`
        spawn { Ok(()) }
    }?;
    Ok(())
}

async fn negative() -> Result<(), BoxError> {
    scope! {
        grace_ms = -5, max_concurrency = 2.0;
        //~^ ERROR `grace_ms` cannot be negative
        //~| ERROR expected a whole number of tasks, not a float
        spawn { Ok(()) }
    }?;
    Ok(())
}

fn main() {
    let _ = (strings(), huge(), negative());
}
