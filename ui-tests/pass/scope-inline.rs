// `spawn inline`: tasks that borrow from the code around `scope!`, in every
// form (kinds, signal, bound handle, nested in control flow), mixed with
// ordinary spawns, with options. trybuild runs this one.
#![deny(warnings)]

use async_scope::{scope, BoxError, CancellationToken, Inline, OptionalHandle, Scope};

/// The example: one inline task per borrowed URL, no clone.
async fn lengths(urls: &[String]) -> Result<usize, BoxError> {
    let total = scope! {
        let mut handles = Vec::new();
        for u in urls {
            let h = spawn inline { Ok::<_, std::io::Error>(u.len()) };
            handles.push(h);
        }
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok(total)
    }?;
    Ok(total)
}

/// The kinds, a signal, a typed signal and a typed handle.
async fn kinds(words: &Vec<String>) -> Result<(usize, Option<usize>, bool), BoxError> {
    let found = scope! {
        let first = spawn inline critical |signal| {
            let _ = &signal;
            Ok(words[0].len())
        };
        let last: OptionalHandle<usize> = spawn inline optional {
            Ok(words[words.len() - 1].len())
        };
        spawn inline |_signal: CancellationToken| {
            Ok(())
        }
        let cancelled = spawn inline { Ok(scope.is_cancelled()) };
        Ok((first.await?, last.await, cancelled.await?))
    }?;
    Ok(found)
}

/// Inline and ordinary spawns together, with options, in `if`, `match` and
/// blocks; the body names both handles.
async fn mixed(prefix: &str, owned: Vec<String>) -> Result<Vec<String>, BoxError> {
    let joined = scope! {
        policy = "supervise", name = "mixed", timeout_ms = 1_000, grace_ms = 10,
        max_concurrency = 4, retain_failures = 10, crate = "async_scope";
        let _: &Scope = &scope;
        let _: &Inline<'_> = &inline;
        let mut handles = Vec::new();
        for word in owned.clone() {
            let h = spawn { Ok::<_, std::io::Error>(word.len()) };
            handles.push(h);
        }
        let mut joined = Vec::new();
        for word in &owned {
            if word.is_empty() {
                spawn inline optional { Ok(()) }
            } else {
                let h = spawn inline { Ok(format!("{prefix}{word}")) };
                joined.push(h);
            }
            match word.len() {
                0 => spawn inline critical |s| { let _ = s; Ok(()) },
                _ => {}
            }
        }
        {
            spawn inline { Ok(()) }
        }
        // an inline task may start more inline tasks: it gets its own handle
        let nested = spawn inline {
            let inner = inline.spawn(move |_| async move { Ok::<_, BoxError>(prefix.len()) });
            Ok(inner.await?)
        };
        nested.await?;
        for h in handles { h.await?; }
        let mut out = Vec::new();
        for h in joined { out.push(h.await?); }
        Ok(out)
    }?;
    Ok(joined)
}

/// `inline` is an ordinary name in a scope without `spawn inline`.
async fn named_inline() -> Result<u8, BoxError> {
    let inline = 2u8;
    let n = scope! {
        let h = spawn { Ok::<_, std::io::Error>(inline) };
        Ok(h.await? + inline)
    }?;
    Ok(n)
}

/// An inline scope inside a spawned task: its future is `Send`.
async fn in_a_task(data: Vec<u64>) -> Result<u64, BoxError> {
    let sum = tokio::spawn(async move {
        scope! {
            let h = spawn inline { Ok::<_, std::io::Error>(data.iter().sum::<u64>()) };
            Ok(h.await?)
        }
    })
    .await??;
    Ok(sum)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let urls = vec!["a".to_string(), "bb".to_string()];
    assert_eq!(lengths(&urls).await?, 3);
    assert_eq!(kinds(&urls).await?, (1, Some(2), false));
    let words = vec!["x".to_string(), "yz".to_string()];
    assert_eq!(mixed("p-", words).await?, ["p-x", "p-yz"]);
    assert_eq!(named_inline().await?, 4);
    assert_eq!(in_a_task(vec![1, 2, 3]).await?, 6);
    // `urls` is still ours: the tasks only borrowed it
    assert_eq!(urls.len(), 2);
    Ok(())
}
