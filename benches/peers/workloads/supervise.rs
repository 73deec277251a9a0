//! `supervise_errors`: one task in ten fails, all failures collected.

use std::time::{Duration, Instant};

use async_scope::{Policy, Scope, TaskError};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{check, expected_sum};
use crate::peers::Peer;
use crate::tasks::{tenth_fails, tracked, BoxError};

/// N tasks of which one in ten fails, all failures collected, siblings go
/// on (async-scope: `Policy::Supervise`).
pub(crate) async fn supervise_errors(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let (sum, errors) = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(tenth_fails(i))).collect();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            for handle in handles {
                match handle.await.unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(tenth_fails(i));
            }
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            while let Some(result) = set.join_next().await {
                match result.unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let handles: Vec<_> = (0..n)
                .map(|i| tracker.spawn(tracked(token.clone(), false, tenth_fails(i))))
                .collect();
            tracker.close();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            for handle in handles {
                match handle.await.unwrap().unwrap() {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            tracker.wait().await;
            (sum, errors.len())
        }
        Peer::Unordered => {
            let mut set: FuturesUnordered<_> = (0..n).map(tenth_fails).collect();
            let mut sum = 0;
            let mut errors: Vec<BoxError> = Vec::new();
            while let Some(result) = set.next().await {
                match result {
                    Ok(v) => sum += v,
                    Err(e) => errors.push(e.into()),
                }
            }
            (sum, errors.len())
        }
        Peer::Scope => Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let handles: Vec<_> = (0..n)
                    .map(|i| scope.spawn(move |_| tenth_fails(i)))
                    .collect();
                let mut sum = 0;
                let mut failed = 0;
                for handle in handles {
                    match handle.await {
                        Ok(v) => sum += v,
                        Err(TaskError::Failed(_)) => failed += 1,
                        Err(e) => return Err(e),
                    }
                }
                let errors = scope.errors().len();
                assert_eq!(errors, failed, "handles and errors() disagree");
                Ok((sum, errors))
            })
            .await
            .unwrap(),
        Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    let want_errors = n.div_ceil(10);
    let want_sum = expected_sum(n) - 10 * expected_sum(want_errors);
    check(sum == want_sum && errors as u64 == want_errors, || {
        format!(
            "supervise_errors {} n={n}: sum {sum} (want {want_sum}), errors {errors} (want {want_errors})",
            peer.name()
        )
    });
    elapsed
}
