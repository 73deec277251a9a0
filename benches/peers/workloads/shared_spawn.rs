//! `shared_spawn`: many spawners, one scope (the server shape of issue 14).
//! 64 tasks of one scope each spawn `per_spawner` trivial tasks into that
//! same scope, then await their handles and return the sum; the owner sums
//! the spawners' sums. A `JoinSet` cannot be shared, so the reference is
//! `TaskTracker` + one `CancellationToken`, the tracker and the token cloned
//! into every spawner; raw `tokio::spawn` (each spawner awaits its own
//! `JoinHandle`s, nothing shared) is the floor.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use async_scope::{with_scope, TaskError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{check, expected_sum};
use crate::peers::Peer;
use crate::tasks::{tracked, trivial};

/// The spawners: tasks of the scope that spawn into it.
pub(crate) const SPAWNERS: u64 = 64;

/// The peers of `shared_spawn`: those whose scope can be shared.
pub(crate) const SHARED_SPAWN_PEERS: [Peer; 3] = [Peer::Raw, Peer::Tracker, Peer::Scope];

/// The indices spawner `s` spawns: `per` of them, disjoint across spawners.
fn indices(s: u64, per: u64) -> std::ops::Range<u64> {
    s * per..(s + 1) * per
}

/// `SPAWNERS` tasks each spawn `per` tasks into the owner's scope and join
/// them; the time until the owner has every sum.
pub(crate) async fn shared_spawn(peer: Peer, per: u64) -> Duration {
    let start = Instant::now();
    let (sum, count) = match peer {
        Peer::Raw => {
            let spawners: Vec<_> = (0..SPAWNERS)
                .map(|s| {
                    tokio::spawn(async move {
                        let handles: Vec<_> =
                            indices(s, per).map(|i| tokio::spawn(trivial(i))).collect();
                        let (mut sum, mut count) = (0, 0);
                        for handle in handles {
                            sum += handle.await.unwrap().unwrap();
                            count += 1;
                        }
                        (sum, count)
                    })
                })
                .collect();
            let (mut sum, mut count) = (0, 0);
            for spawner in spawners {
                let (s, c) = spawner.await.unwrap();
                sum += s;
                count += c;
            }
            (sum, count)
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let spawners: Vec<_> = (0..SPAWNERS)
                .map(|s| {
                    let (inner, token_) = (tracker.clone(), token.clone());
                    let body = async move {
                        let handles: Vec<_> = indices(s, per)
                            .map(|i| inner.spawn(tracked(token_.clone(), true, trivial(i))))
                            .collect();
                        let (mut sum, mut count) = (0, 0);
                        for handle in handles {
                            sum += handle.await.unwrap().unwrap().unwrap();
                            count += 1;
                        }
                        Ok::<_, Infallible>((sum, count))
                    };
                    tracker.spawn(tracked(token.clone(), true, body))
                })
                .collect();
            tracker.close();
            let (mut sum, mut count) = (0, 0);
            for spawner in spawners {
                let (s, c) = spawner.await.unwrap().unwrap().unwrap();
                sum += s;
                count += c;
            }
            tracker.wait().await;
            (sum, count)
        }
        Peer::Scope => with_scope(|scope| async move {
            let spawners: Vec<_> = (0..SPAWNERS)
                .map(|s| {
                    let inner = scope.clone();
                    scope.spawn(move |_| async move {
                        let handles: Vec<_> = indices(s, per)
                            .map(|i| inner.spawn(move |_| trivial(i)))
                            .collect();
                        let (mut sum, mut count) = (0, 0);
                        for handle in handles {
                            sum += handle.await?;
                            count += 1;
                        }
                        Ok::<_, TaskError>((sum, count))
                    })
                })
                .collect();
            let (mut sum, mut count) = (0, 0);
            for spawner in spawners {
                let (s, c) = spawner.await?;
                sum += s;
                count += c;
            }
            Ok::<_, TaskError>((sum, count))
        })
        .await
        .unwrap(),
        Peer::JoinSet | Peer::Unordered | Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => {
            unreachable!()
        }
    };
    let elapsed = start.elapsed();
    let n = SPAWNERS * per;
    check(sum == expected_sum(n) && count == n, || {
        format!(
            "shared_spawn {} n={n}: sum {sum} (want {}), count {count}",
            peer.name(),
            expected_sum(n)
        )
    });
    elapsed
}
