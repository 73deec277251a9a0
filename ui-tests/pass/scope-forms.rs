// `scope!`: every kind, bindings, signals, ordinary statements, the tail.
#![deny(warnings)]

use async_scope::{scope, BoxError, CancellationToken, OptionalHandle, TaskHandle};

async fn fetch(n: u32) -> Result<u32, std::io::Error> {
    Ok(n)
}

async fn run() -> Result<(u32, u32, Option<u32>), BoxError> {
    let base = 10;
    let result = scope! {
        let a = spawn { fetch(base).await };
        let b: TaskHandle<u32> = spawn critical { fetch(2).await };
        let c: OptionalHandle<u32> = spawn optional { fetch(3).await };
        spawn |signal| {
            signal.cancelled().await;
            Ok::<_, std::io::Error>(())
        }
        spawn critical |signal: CancellationToken| {
            let _ = signal.is_cancelled();
            fetch(4).await
        };
        spawn optional |_signal| { fetch(5).await }
        #[allow(unused_variables)]
        let unused = spawn { fetch(6).await };
        #[cfg(any())]
        spawn { compile_error!("configured out") }
        let total = base + 1;
        scope.cancel();
        Ok((a.await? + total, b.await?, c.await))
    }?;
    Ok(result)
}

fn main() {
    let _ = run();
}
