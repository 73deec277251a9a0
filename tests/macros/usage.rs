//! The macros as users write them (SPEC.md "Macros"): the examples of their
//! documentation, futures that stay `Send`, and `#[scoped]` under another
//! attribute.

use async_scope::{scope, scoped, BoxError, Policy, ScopeError};

use crate::support::*;

// === the examples of the macros' documentation ===

async fn load_rows(signal: &async_scope::CancellationToken) -> Result<Vec<u8>, std::io::Error> {
    assert!(!signal.is_cancelled());
    Ok(vec![1, 2, 3])
}

async fn send_metrics() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("metrics are down"))
}

async fn totals(orders: Vec<u32>) -> Result<(u32, usize), BoxError> {
    let (sum, count) = scope! {
        policy = "supervise";
        let sum = spawn { Ok(orders.iter().sum::<u32>()) };
        let count = spawn critical |signal| {
            let rows = load_rows(&signal).await?;   // any error type
            Ok(rows.len())
        };
        spawn optional { send_metrics().await };
        Ok((sum.await?, count.await?))
    }?;
    Ok((sum, count))
}

#[tokio::test]
async fn scope_documentation_example() {
    assert_eq!(totals(vec![1, 2, 3]).await.unwrap(), (6, 3));
}

#[scoped(policy = "supervise", timeout_ms = 500)]
async fn load(id: u64) -> Result<u64, AppError> {
    let user = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(id * 2) });
    Ok(user.await?)
}

#[tokio::test(start_paused = true)]
async fn scoped_documentation_example() {
    assert_eq!(load(4).await.unwrap(), 8);
}

// === Send ===

fn assert_send<T: Send>(value: T) -> T {
    value
}

async fn scope_in_a_function() -> Result<u8, ScopeError> {
    scope! {
        let h = spawn { Ok::<_, std::io::Error>(1u8) };
        Ok(h.await?)
    }
}

/// Both macros keep futures `Send` when the body is, so they can be spawned
/// onto a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_stay_send() {
    let scoped = tokio::spawn(assert_send(doubled(2)));
    let scope = tokio::spawn(assert_send(scope_in_a_function()));
    assert_eq!(scoped.await.unwrap().unwrap(), 4);
    assert_eq!(scope.await.unwrap().unwrap(), 1);
}

// === with other attributes ===

/// `#[scoped]` above `#[tokio::test]`: the test body runs in a scope.
#[scoped(policy = "supervise")]
#[tokio::test]
async fn scoped_test_function() -> Result<(), AppError> {
    assert_eq!(scope.policy(), Policy::Supervise);
    let h = scope.spawn(|_| async { Ok::<_, std::io::Error>(1) });
    assert_eq!(h.await?, 1);
    Ok(())
}
