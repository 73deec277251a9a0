//! `memory`: RSS growth per pending task, each measurement in a fresh child
//! process (the bench binary re-executed with `--memory-child PEER N`).

use std::convert::Infallible;
use std::process::Command;
use std::sync::atomic::Ordering::SeqCst;

use async_scope::with_scope;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{check, reset_counters, ALL_PARKED, PARKED};
use crate::harness::{measure_values, rss_bytes, runtime, Config, Figures, Result_};
use crate::peers::{Peer, PEERS};
use crate::tasks::{parked_forever, tracked};

pub(crate) const CHILD_FLAG: &str = "--memory-child";
const CHILD_PREFIX: &str = "MEMORY_CHILD bytes_per_task=";

/// The child's side: park `n` tasks under `peer`, print the RSS growth per
/// task, exit without tearing down.
pub(crate) fn memory_child(peer: Peer, n: usize) -> ! {
    let rt = runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            reset_counters(n);
            let before = rss_bytes().expect("/proc/self/statm");
            let report = move || -> ! {
                let after = rss_bytes().expect("/proc/self/statm");
                let parked = PARKED.load(SeqCst);
                assert_eq!(parked, n, "every task parked");
                let per_task = after.saturating_sub(before) as f64 / n as f64;
                println!("{CHILD_PREFIX}{per_task}");
                std::process::exit(0)
            };
            match peer {
                Peer::Raw => {
                    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(parked_forever())).collect();
                    ALL_PARKED.notified().await;
                    std::hint::black_box(&handles);
                    report()
                }
                Peer::JoinSet => {
                    let mut set = JoinSet::new();
                    for _ in 0..n {
                        set.spawn(parked_forever());
                    }
                    ALL_PARKED.notified().await;
                    std::hint::black_box(&set);
                    report()
                }
                Peer::Tracker => {
                    let tracker = TaskTracker::new();
                    let token = CancellationToken::new();
                    for _ in 0..n {
                        tracker.spawn(tracked(token.clone(), true, parked_forever()));
                    }
                    ALL_PARKED.notified().await;
                    std::hint::black_box((&tracker, &token));
                    report()
                }
                Peer::Unordered => {
                    let mut set: FuturesUnordered<_> = (0..n).map(|_| parked_forever()).collect();
                    tokio::select! {
                        _ = set.next() => unreachable!("parked forever"),
                        () = ALL_PARKED.notified() => {}
                    }
                    std::hint::black_box(&set);
                    report()
                }
                Peer::Scope => {
                    let _ = with_scope::<_, _, (), Infallible>(|scope| async move {
                        for _ in 0..n {
                            scope.spawn(|_| parked_forever());
                        }
                        ALL_PARKED.notified().await;
                        report()
                    })
                    .await;
                    unreachable!()
                }
                Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
            }
        })
        .await
        .unwrap()
    })
}

/// The parent's side: one child process per measurement.
fn memory_in_child(peer: Peer, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = Command::new(exe)
        .args([CHILD_FLAG, peer.name(), &n.to_string()])
        .output()
        .expect("run the memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = stdout
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_PREFIX))
        .and_then(|v| v.trim().parse().ok());
    check(output.status.success() && value.is_some(), || {
        format!(
            "memory {}: child failed: {:?} {}",
            peer.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    value.unwrap_or(f64::NAN)
}

/// Measures `memory` for every peer: `cfg.rounds` child processes each, rotated.
pub(crate) fn measure_memory(cfg: &Config, results: &mut Vec<Result_>, n: usize) {
    let figures = Figures {
        workloads: &["memory"],
        n: n as u64,
        unit: "pending task",
        metric: "B",
        peers: &PEERS,
        reference: Peer::JoinSet,
        ratios: true,
    };
    measure_values(cfg, results, &figures, |peer| {
        vec![memory_in_child(peer, n)]
    });
}
