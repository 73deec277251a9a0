//! `wide_nested`: many nested scopes open side by side in one scope, as a
//! server's request scopes are (each connection's task opens its own), ending
//! in the order their tasks are woken. N tasks of the owner's scope each open
//! a nested scope of one task that waits for a release; once every nested
//! scope is open, one token releases them all. The time from the first spawn
//! until the owner has every value, per nested scope. A nested scope that
//! ends leaves its parent's list of open children: this workload is what
//! that costs when thousands are open at once.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_scope::{with_scope, TaskError};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::check::{check, expected_sum};
use crate::peers::Peer;

/// The peers of `wide_nested`: a `JoinSet` per request against a scope per request.
pub(crate) const WIDE_NESTED_PEERS: [Peer; 2] = [Peer::JoinSet, Peer::Scope];

/// Counts the nested scopes opened; wakes the owner when all `n` are.
struct Opened {
    count: AtomicU64,
    all: Notify,
    n: u64,
}

impl Opened {
    fn one_more(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.all.notify_one();
        }
    }

    async fn wait_all(&self) {
        let all = self.all.notified();
        if self.count.load(Ordering::Acquire) < self.n {
            all.await;
        }
    }
}

/// The request's one task: waits for the release, returns its index.
async fn request(i: u64, release: CancellationToken) -> u64 {
    release.cancelled().await;
    i
}

/// `n` nested scopes open at once in one scope, then released together.
pub(crate) async fn wide_nested(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let release = CancellationToken::new();
    let opened = Arc::new(Opened {
        count: AtomicU64::new(0),
        all: Notify::new(),
        n,
    });
    let sum = match peer {
        Peer::JoinSet => {
            let mut outer = JoinSet::new();
            for i in 0..n {
                let (release, opened) = (release.clone(), opened.clone());
                outer.spawn(async move {
                    let mut set = JoinSet::new();
                    set.spawn(request(i, release));
                    opened.one_more();
                    set.join_next().await.unwrap().unwrap()
                });
            }
            opened.wait_all().await;
            release.cancel();
            let mut sum = 0;
            while let Some(value) = outer.join_next().await {
                sum += value.unwrap();
            }
            sum
        }
        Peer::Scope => {
            let (release, opened) = (release.clone(), opened.clone());
            with_scope(|scope| async move {
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (release, opened) = (release.clone(), opened.clone());
                        scope.spawn(move |_| {
                            with_scope(move |nested| async move {
                                let value = nested.spawn(move |_| async move {
                                    Ok::<_, Infallible>(request(i, release).await)
                                });
                                opened.one_more();
                                value.await
                            })
                        })
                    })
                    .collect();
                opened.wait_all().await;
                release.cancel();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await?;
                }
                Ok::<_, TaskError>(sum)
            })
            .await
            .expect("no task fails")
        }
        _ => unreachable!("not a peer of wide_nested"),
    };
    check(sum == expected_sum(n), || {
        format!("wide_nested {peer:?}: sum {sum} for n={n}")
    });
    start.elapsed()
}
