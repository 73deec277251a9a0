//! The spawn-and-join family: `spawn_join` (N tasks in one scope) and
//! `nested` (N scopes of one task each).

use std::time::{Duration, Instant};

use async_scope::{with_scope, TaskError};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{check, expected_sum};
use crate::peers::Peer;
use crate::tasks::{tracked, trivial};

/// N trivial tasks, await all, sum.
pub(crate) async fn spawn_join(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let sum = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(trivial(i))).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap().unwrap();
            }
            sum
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(trivial(i));
            }
            let mut sum = 0;
            while let Some(result) = set.join_next().await {
                sum += result.unwrap().unwrap();
            }
            sum
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let handles: Vec<_> = (0..n)
                .map(|i| tracker.spawn(tracked(token.clone(), true, trivial(i))))
                .collect();
            tracker.close();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap().unwrap().unwrap();
            }
            tracker.wait().await;
            sum
        }
        Peer::Unordered => {
            let mut set: FuturesUnordered<_> = (0..n).map(trivial).collect();
            let mut sum = 0;
            while let Some(result) = set.next().await {
                sum += result.unwrap();
            }
            sum
        }
        Peer::Scope => with_scope(|scope| async move {
            let handles: Vec<_> = (0..n).map(|i| scope.spawn(move |_| trivial(i))).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await?;
            }
            Ok::<_, TaskError>(sum)
        })
        .await
        .unwrap(),
        Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), || {
        format!("spawn_join {} n={n}: sum {sum}", peer.name())
    });
    elapsed
}

/// N scopes in sequence, each spawning and joining one task. Scopes are
/// nested in an outer one (for TaskTracker: child tokens of an outer token).
pub(crate) async fn nested(peer: Peer, n: u64) -> Duration {
    let start = Instant::now();
    let sum = match peer {
        Peer::Raw => {
            let mut sum = 0;
            for i in 0..n {
                sum += tokio::spawn(trivial(i)).await.unwrap().unwrap();
            }
            sum
        }
        Peer::JoinSet => {
            let mut sum = 0;
            for i in 0..n {
                let mut set = JoinSet::new();
                set.spawn(trivial(i));
                sum += set.join_next().await.unwrap().unwrap().unwrap();
            }
            sum
        }
        Peer::Tracker => {
            let outer = CancellationToken::new();
            let mut sum = 0;
            for i in 0..n {
                let token = outer.child_token();
                let tracker = TaskTracker::new();
                let handle = tracker.spawn(tracked(token.clone(), true, trivial(i)));
                tracker.close();
                sum += handle.await.unwrap().unwrap().unwrap();
                tracker.wait().await;
            }
            sum
        }
        Peer::Unordered => {
            let mut sum = 0;
            for i in 0..n {
                let mut set = FuturesUnordered::new();
                set.push(trivial(i));
                sum += set.next().await.unwrap().unwrap();
            }
            sum
        }
        Peer::Scope => with_scope(|_outer| async move {
            let mut sum = 0;
            for i in 0..n {
                sum += with_scope(|scope| async move { scope.spawn(move |_| trivial(i)).await })
                    .await?;
            }
            Ok::<_, async_scope::ScopeError>(sum)
        })
        .await
        .unwrap(),
        Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), || {
        format!("nested {} n={n}: sum {sum}", peer.name())
    });
    elapsed
}
