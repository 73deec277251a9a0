//! `fan_out_tree`: nested scopes of depth 4 and fan-out 10.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use async_scope::{with_scope, TaskError};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::{yield_now, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::check;
use crate::peers::Peer;
use crate::tasks::{tracked, BenchError, BoxFuture};

const TREE_DEPTH: u32 = 4;
const TREE_FAN_OUT: u64 = 10;
/// 1 + 10 + 100 + 1,000 + 10,000.
pub(crate) const TREE_NODES: u64 = 11_111;

fn raw_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let handles: Vec<_> = (0..TREE_FAN_OUT)
            .map(|_| tokio::spawn(raw_node(depth + 1)))
            .collect();
        let mut nodes = 1;
        for handle in handles {
            nodes += handle.await.unwrap();
        }
        nodes
    })
}

fn join_set_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let mut set = JoinSet::new();
        for _ in 0..TREE_FAN_OUT {
            set.spawn(join_set_node(depth + 1));
        }
        let mut nodes = 1;
        while let Some(result) = set.join_next().await {
            nodes += result.unwrap();
        }
        nodes
    })
}

fn tracker_node(depth: u32, token: CancellationToken) -> BoxFuture<Result<u64, BenchError>> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return Ok(1);
        }
        let token = token.child_token();
        let tracker = TaskTracker::new();
        let handles: Vec<_> = (0..TREE_FAN_OUT)
            .map(|_| {
                let child = tracker_node(depth + 1, token.clone());
                tracker.spawn(tracked(token.clone(), true, child))
            })
            .collect();
        tracker.close();
        let mut nodes = 1;
        for handle in handles {
            nodes += handle.await.unwrap().expect("not cancelled")?;
        }
        tracker.wait().await;
        Ok(nodes)
    })
}

fn unordered_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        let mut set: FuturesUnordered<_> = (0..TREE_FAN_OUT)
            .map(|_| unordered_node(depth + 1))
            .collect();
        let mut nodes = 1;
        while let Some(n) = set.next().await {
            nodes += n;
        }
        nodes
    })
}

fn scope_node(depth: u32) -> BoxFuture<u64> {
    Box::pin(async move {
        if depth == TREE_DEPTH {
            yield_now().await;
            return 1;
        }
        with_scope(|scope| async move {
            let handles: Vec<_> = (0..TREE_FAN_OUT)
                .map(|_| {
                    scope.spawn(
                        move |_| async move { Ok::<_, Infallible>(scope_node(depth + 1).await) },
                    )
                })
                .collect();
            let mut nodes = 1;
            for handle in handles {
                nodes += handle.await?;
            }
            Ok::<_, TaskError>(nodes)
        })
        .await
        .unwrap()
    })
}

/// Nested scopes of depth 4 and fan-out 10 (11,111 nodes); leaves yield once.
pub(crate) async fn fan_out_tree(peer: Peer) -> Duration {
    let start = Instant::now();
    let nodes = match peer {
        Peer::Raw => raw_node(0).await,
        Peer::JoinSet => join_set_node(0).await,
        Peer::Tracker => tracker_node(0, CancellationToken::new()).await.unwrap(),
        Peer::Unordered => unordered_node(0).await,
        Peer::Scope => scope_node(0).await,
        Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let elapsed = start.elapsed();
    check(nodes == TREE_NODES, || {
        format!("fan_out_tree {}: {nodes} nodes", peer.name())
    });
    elapsed
}
