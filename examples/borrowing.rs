//! Inline tasks: tasks that borrow from the code around the scope.
//!
//! Fetches the size of every page of a borrowed list concurrently, once with
//! `scope!` and `spawn inline` in a loop, once with the engine API
//! (`with_scope_inline`), and beside them runs an ordinary, parallel task
//! over owned data. Run with `cargo run --example borrowing`.

use std::time::Duration;

use async_scope::{scope, with_scope_inline, BoxError, ScopeError, TaskError};

/// Stands in for an HTTP request: the "page size" is ten times the URL's length.
async fn fetch(url: &str) -> Result<usize, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(10 * url.len() as u64)).await;
    Ok(url.len() * 10)
}

/// `scope!` with `spawn inline` in a loop: each task borrows its `url`, and a
/// plain `spawn` over an owned copy checksums the list in parallel.
async fn total_with_macro(urls: &[String]) -> Result<(usize, usize), BoxError> {
    let (total, checksum) = scope! {
        let owned = urls.to_vec();
        let checksum = spawn {
            Ok::<_, std::io::Error>(owned.iter().map(|u| u.len()).sum::<usize>())
        };
        let mut sizes = Vec::new();
        for url in urls {
            let size = spawn inline { fetch(url).await };
            sizes.push(size);
        }
        let mut total = 0;
        for size in sizes {
            total += size.await?;
        }
        Ok((total, checksum.await?))
    }?;
    Ok((total, checksum))
}

/// The same fan-out with the engine API.
async fn total_with_engine(urls: &[String]) -> Result<usize, ScopeError> {
    with_scope_inline(|_scope, inline| async move {
        let sizes: Vec<_> = urls
            .iter()
            .map(|url| inline.spawn(move |_signal| fetch(url)))
            .collect();
        let mut total = 0;
        for size in sizes {
            total += size.await?;
        }
        Ok::<_, TaskError>(total)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let urls: Vec<String> = ["a.example", "bb.example", "ccc.example"]
        .into_iter()
        .map(String::from)
        .collect();
    let (total, checksum) = total_with_macro(&urls).await?;
    println!(
        "scope!: {} pages, {total} bytes (checksum {checksum})",
        urls.len()
    );
    let total = total_with_engine(&urls).await?;
    println!("with_scope_inline: {} pages, {total} bytes", urls.len());
    Ok(())
}
