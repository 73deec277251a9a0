//! `spawn` statements of every form inside the body's own control flow.
use async_scope::{scope, BoxError, TaskHandle};

async fn fetch(n: u32) -> Result<u32, BoxError> {
    Ok(n)
}

async fn run(urls: Vec<u32>, eager: bool) -> Result<u32, BoxError> {
    scope! {
        let mut handles: Vec<TaskHandle<u32>> = Vec::new();
        for u in urls.clone() {
            let h = spawn { fetch(u).await };
            handles.push(h);
        }
        let mut i = 0;
        while i < 2 {
            spawn optional { fetch(1).await };
            i += 1;
        }
        loop {
            let h: TaskHandle<u32> = spawn critical |signal| {
                signal.is_cancelled();
                fetch(2).await
            };
            handles.push(h);
            break;
        }
        if eager {
            spawn { Ok(()) }
        } else if i == 3 {
            spawn critical { Ok(()) };
        } else {
            #[allow(unused)]
            let _h = spawn |_| { Ok(()) };
        }
        match urls.first() {
            Some(&n) => spawn { fetch(n).await },
            None => {
                spawn optional { Ok(()) };
            }
        }
        {
            {
                let h = spawn { scope.is_cancelled(); Ok(4) };
                handles.push(h);
            }
        }
        for _ in 0..1 {
            // a nested `scope!` keeps its own spawns
            let inner = scope! {
                let h = spawn { Ok(5) };
                Ok(h.await?)
            };
            let h = spawn { Ok(inner?) };
            handles.push(h);
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }
    .map_err(Into::into)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(run(vec![10, 20], true)).unwrap(), 10 + 20 + 2 + 4 + 5);
}
