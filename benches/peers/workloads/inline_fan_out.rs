//! `inline_fan_out`: N tasks that borrow one shared slice, all run on the
//! owner's task (issue 15). Each task reads its element and returns it; the
//! owner sums the results. Peers: `FuturesUnordered` (the reference: the
//! plain in-task set), `join_all` (moro-style in-task code: one future per
//! element, joined in place), and async-scope's inline tasks
//! (`with_scope_inline`, one `Inline::spawn` per element, handles awaited).
//! None of them clones the slice or moves it into an `Arc`.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use async_scope::{with_scope_inline, TaskError};
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::check::{check, expected_sum};
use crate::peers::Peer;

/// The peers of `inline_fan_out`: those that run borrowing futures in the owner's task.
pub(crate) const INLINE_FAN_OUT_PEERS: [Peer; 3] = [Peer::Unordered, Peer::JoinAll, Peer::Scope];

/// The task of every peer: its element of the borrowed slice.
async fn element(data: &[u64], i: usize) -> Result<u64, Infallible> {
    Ok(data[i])
}

/// Runs `n` borrowing tasks with `peer` and checks their sum; the time taken.
pub(crate) async fn inline_fan_out(peer: Peer, n: u64) -> Duration {
    let data: Vec<u64> = (0..n).collect();
    let data = &data[..];
    let start = Instant::now();
    let sum: u64 = match peer {
        Peer::Unordered => {
            let mut set: FuturesUnordered<_> = (0..data.len()).map(|i| element(data, i)).collect();
            let mut sum = 0;
            while let Some(value) = set.next().await {
                sum += value.unwrap();
            }
            sum
        }
        Peer::JoinAll => join_all((0..data.len()).map(|i| element(data, i)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum(),
        Peer::Scope => with_scope_inline(|_scope, inline| async move {
            let handles: Vec<_> = (0..data.len())
                .map(|i| inline.spawn(move |_| element(data, i)))
                .collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await?;
            }
            Ok::<_, TaskError>(sum)
        })
        .await
        .unwrap(),
        other => unreachable!("{other:?} is not an inline_fan_out peer"),
    };
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), || {
        format!(
            "inline_fan_out {}: sum {sum}, want {}",
            peer.name(),
            expected_sum(n)
        )
    });
    elapsed
}
