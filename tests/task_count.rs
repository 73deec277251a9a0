//! The task count across workers (SPEC.md: "the body returns `Ok(v)`: the
//! scope waits for every task", `wait_for_completion`, snapshots, and the
//! parent lease of "the scope's future is dropped before it ends"), on a
//! multi_thread runtime where tasks end on one worker while the other spawns.
//!
//! A scope counts its live tasks in an atomic, counted in under its lock and
//! out without it while many tasks are live (their ends logged apart and
//! taken in by snapshots and prunes: scope-core's `scope/records.rs`); these
//! tests drive both paths, many tasks at once and the last few, in rounds
//! whose interleaving varies from run to run:
//! - a scope never ends before a task spawned into it after its body ended;
//! - a nested scope whose future was dropped holds its parent until its many
//!   aborted tasks are gone;
//! - after `wait_for_completion`, a snapshot of a long-lived scope lists no
//!   task and counts every end exactly, prunes in between included.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_scope::{Policy, Scope, ScopeError, TaskError};
use tokio::sync::Barrier;

mod common;

use common::{guard_for, Live};

const LIMIT: Duration = Duration::from_secs(120);

/// Spawns a task into `scope` that, after a yield, spawns its successor into
/// its own scope (found through `Scope::current`), `left` more times.
fn chain(scope: &Scope, left: usize, live: Live, ran: Arc<AtomicUsize>) {
    let probe = live.hold();
    scope.spawn(move |_| async move {
        let _probe = probe;
        ran.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        if left > 0 {
            let scope = Scope::current().expect("a task runs in its scope");
            chain(&scope, left - 1, live, ran);
        }
        Ok::<_, io::Error>(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_waits_for_tasks_spawned_after_its_body_ended() {
    const WIDTH: usize = 12;
    const DEPTH: usize = 40;
    for round in 0..300 {
        let live = Live::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let (live_in, ran_in) = (live.clone(), ran.clone());
        guard_for(
            LIMIT,
            Scope::builder().run(move |scope| async move {
                for _ in 0..WIDTH {
                    chain(&scope, DEPTH, live_in.clone(), ran_in.clone());
                }
                Ok::<_, io::Error>(())
            }),
        )
        .await
        .unwrap();
        assert_eq!(live.count(), 0, "round {round}: a task outlived its scope");
        assert_eq!(
            ran.load(SeqCst),
            WIDTH * (DEPTH + 1),
            "round {round}: a successor was refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_nested_scope_holds_its_parent_until_its_many_tasks_are_gone() {
    // More than the few tasks whose ends go under the scope's lock.
    const CHILD_TASKS: usize = 24;
    for round in 0..300 {
        let live = Live::default();
        let live_in = live.clone();
        guard_for(
            LIMIT,
            Scope::builder()
                .policy(Policy::Supervise)
                .run(move |scope| async move {
                    let started = Arc::new(Barrier::new(CHILD_TASKS + 1));
                    let started_in = started.clone();
                    let runner = scope.spawn(move |_| async move {
                        Scope::builder()
                            .run(move |child| async move {
                                for _ in 0..CHILD_TASKS {
                                    // Its destructor yields its thread: the
                                    // aborted tasks take a while to go.
                                    let probe = live_in.hold_slowly(Duration::from_micros(50));
                                    let started = started_in.clone();
                                    child.spawn(move |_| async move {
                                        let _probe = probe;
                                        started.wait().await;
                                        std::future::pending::<Result<(), io::Error>>().await
                                    });
                                }
                                std::future::pending::<Result<(), io::Error>>().await
                            })
                            .await
                    });
                    started.wait().await;
                    // The runner is aborted: the nested scope's future is
                    // dropped with its 24 tasks still alive.
                    runner.cancel();
                    assert!(matches!(runner.await, Err(TaskError::Cancelled)));
                    Ok::<_, io::Error>(())
                }),
        )
        .await
        .unwrap();
        assert_eq!(
            live.count(),
            0,
            "round {round}: the parent ended before its nested scope's tasks"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_a_long_lived_scope_count_every_end_exactly() {
    guard_for(
        LIMIT,
        Scope::builder()
            .policy(Policy::Supervise)
            .run(|scope| async move {
                let (mut done, mut cancelled) = (0, 0);
                // 9 to 40 tasks a round: above and below the few whose ends
                // go under the lock; 40,000 tasks in all, so records are
                // pruned between rounds.
                for round in 0..1_500usize {
                    let n = 9 + round % 32;
                    let to_cancel = n.div_ceil(4);
                    let to_finish = n - to_cancel;
                    let gate = Arc::new(Barrier::new(to_finish));
                    let mut handles = Vec::new();
                    for i in 0..n {
                        if i % 4 == 0 {
                            handles.push(
                                scope.spawn(|_| std::future::pending::<Result<(), io::Error>>()),
                            );
                        } else {
                            let gate = gate.clone();
                            scope.spawn(move |_| async move {
                                gate.wait().await;
                                Ok::<_, io::Error>(())
                            });
                        }
                    }
                    for handle in &handles {
                        handle.cancel();
                    }
                    scope.wait_for_completion().await?;
                    let snapshot = scope.snapshot();
                    assert!(snapshot.tasks().is_empty(), "round {round}: {snapshot}");
                    done += to_finish;
                    cancelled += to_cancel;
                    assert_eq!(snapshot.done(), done, "round {round}");
                    assert_eq!(snapshot.cancelled(), cancelled, "round {round}");
                }
                Ok::<_, ScopeError>(())
            }),
    )
    .await
    .unwrap();
}
