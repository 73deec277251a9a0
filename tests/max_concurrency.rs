//! `max_concurrency` (SPEC.md, "Rules": "`max_concurrency(n)`"; "Details":
//! tasks waiting for a slot when the scope is cancelled never run,
//! `max_concurrency(0)` panics at once). Each task records when its closure
//! is called ("started") and holds a receiver the test controls, so the
//! number running at once is exact.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{BoxError, Policy, Reason, Scope, TaskError, TaskHandle};
use tokio::sync::oneshot;

mod common;

use common::{guard, guard_for, settle, Res};

// === helpers ===

/// What the tasks of one test did.
#[derive(Clone, Default)]
struct Board {
    /// Task numbers in the order their closures were called.
    started: Arc<Mutex<Vec<usize>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

impl Board {
    fn started(&self) -> Vec<usize> {
        self.started.lock().unwrap().clone()
    }

    fn max_running(&self) -> usize {
        self.max_running.load(SeqCst)
    }

    /// Spawns task `n`: it records its start, then runs until `release` fires.
    fn spawn(&self, scope: &Scope, n: usize) -> (TaskHandle<usize>, oneshot::Sender<()>) {
        let (tx, rx) = oneshot::channel::<()>();
        let board = self.clone();
        let handle = scope.spawn(move |_| {
            board.started.lock().unwrap().push(n);
            let now = board.running.fetch_add(1, SeqCst) + 1;
            board.max_running.fetch_max(now, SeqCst);
            async move {
                rx.await.ok();
                board.running.fetch_sub(1, SeqCst);
                Res::Ok(n)
            }
        });
        (handle, tx)
    }

    /// Spawns task `n`, which records its start and ends at once after a yield.
    fn spawn_quick(&self, scope: &Scope, n: usize) -> TaskHandle<usize> {
        let board = self.clone();
        scope.spawn(move |_| {
            board.started.lock().unwrap().push(n);
            let now = board.running.fetch_add(1, SeqCst) + 1;
            board.max_running.fetch_max(now, SeqCst);
            async move {
                tokio::task::yield_now().await;
                board.running.fetch_sub(1, SeqCst);
                Res::Ok(n)
            }
        })
    }
}

fn limited(n: usize) -> async_scope::ScopeBuilder {
    Scope::builder().max_concurrency(n)
}

// === at most n at once, in spawn order ===

#[tokio::test(start_paused = true)]
async fn max_concurrency_limits_running_tasks() {
    guard(async move {
        let board = Board::default();
        let b = board.clone();
        limited(2)
            .run(|scope| async move {
                let (handles, mut releases): (Vec<_>, Vec<_>) =
                    (0..6).map(|n| b.spawn(&scope, n)).unzip();
                settle().await;
                assert_eq!(b.started(), [0, 1]);
                for expected in [
                    vec![0, 1, 2],
                    vec![0, 1, 2, 3],
                    vec![0, 1, 2, 3, 4],
                    vec![0, 1, 2, 3, 4, 5],
                ] {
                    releases.remove(0).send(()).unwrap();
                    settle().await;
                    assert_eq!(b.started(), expected);
                }
                for tx in releases {
                    tx.send(()).unwrap();
                }
                for (n, h) in handles.into_iter().enumerate() {
                    assert_eq!(h.await?, n);
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(board.max_running(), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn waiting_tasks_start_in_spawn_order_on_current_thread() {
    guard(async move {
        let board = Board::default();
        let b = board.clone();
        limited(1)
            .run(|scope| async move {
                for n in 0..100 {
                    b.spawn_quick(&scope, n);
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(board.started(), (0..100).collect::<Vec<_>>());
        assert_eq!(board.max_running(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_tasks_start_in_spawn_order_on_multi_thread() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        let board = Board::default();
        let b = board.clone();
        limited(1)
            .run(|scope| async move {
                for n in 0..300 {
                    b.spawn_quick(&scope, n);
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(board.started(), (0..300).collect::<Vec<_>>());
        assert_eq!(board.max_running(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_holds_on_multi_thread() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        let board = Board::default();
        let b = board.clone();
        limited(3)
            .run(|scope| async move {
                for n in 0..500 {
                    b.spawn_quick(&scope, n);
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert!(
            board.max_running() <= 3,
            "{} ran at once",
            board.max_running()
        );
        assert_eq!(board.started().len(), 500);
    })
    .await;
}

#[test]
fn spawn_never_blocks() {
    // A blocking spawn would deadlock the runtime's only thread: a watchdog
    // turns that into a failure instead of a hang.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            limited(1)
                .run(|scope| async move {
                    let (tx, rx) = oneshot::channel::<()>();
                    scope.spawn(|_| async move {
                        rx.await.ok();
                        Res::Ok(())
                    });
                    settle().await;
                    // The only slot is held: every spawn below must still return at once.
                    for _ in 0..1000 {
                        scope.spawn(|_| async { Res::Ok(()) });
                        scope.spawn_critical(|_| async { Res::Ok(()) });
                        scope.spawn_optional(|_| async { Res::Ok(()) });
                    }
                    tx.send(()).unwrap();
                    Res::Ok(())
                })
                .await
                .unwrap();
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("spawn blocked while waiting for a slot");
}

#[tokio::test(start_paused = true)]
async fn every_task_kind_counts_toward_the_limit() {
    guard(async move {
        let started = Arc::new(Mutex::new(Vec::new()));
        let s = started.clone();
        limited(1)
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                let s1 = s.clone();
                scope.spawn_critical(move |_| {
                    s1.lock().unwrap().push("critical");
                    async move {
                        rx.await.ok();
                        Res::Ok(())
                    }
                });
                let s2 = s.clone();
                scope.spawn_optional(move |_| {
                    s2.lock().unwrap().push("optional");
                    async { Res::Ok(()) }
                });
                let s3 = s.clone();
                scope.spawn(move |_| {
                    s3.lock().unwrap().push("normal");
                    async { Res::Ok(()) }
                });
                settle().await;
                assert_eq!(*s.lock().unwrap(), ["critical"]);
                tx.send(()).unwrap();
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(*started.lock().unwrap(), ["critical", "optional", "normal"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn tasks_spawned_by_tasks_wait_their_turn_too() {
    guard(async move {
        let board = Board::default();
        let b = board.clone();
        limited(1)
            .run(|scope| async move {
                let (first, release) = b.spawn(&scope, 0);
                let b2 = b.clone();
                let spawner = scope.spawn(move |_| async move {
                    let scope = Scope::current().unwrap();
                    Res::Ok(b2.spawn_quick(&scope, 2))
                });
                settle().await;
                assert_eq!(b.started(), [0]);
                release.send(()).unwrap();
                first.await?;
                spawner.await?.await?;
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(board.max_running(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failed_and_panicked_tasks_release_their_slot() {
    guard(async move {
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        Scope::builder()
            .policy(Policy::Supervise)
            .max_concurrency(1)
            .run(|scope| async move {
                for n in 0..6 {
                    let s = s.clone();
                    scope.spawn(move |_| {
                        s.fetch_add(1, SeqCst);
                        async move {
                            tokio::task::yield_now().await;
                            if n % 2 == 0 {
                                return Err::<(), BoxError>("failed".into());
                            }
                            panic!("panicked");
                        }
                    });
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(started.load(SeqCst), 6);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_running_task_releases_its_slot() {
    guard(async move {
        let board = Board::default();
        let b = board.clone();
        limited(1)
            .run(|scope| async move {
                let (first, _release) = b.spawn(&scope, 0);
                let second = b.spawn_quick(&scope, 1);
                settle().await;
                assert_eq!(b.started(), [0]);
                first.cancel();
                assert_eq!(second.await?, 1);
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

// === waiting tasks never run once cancelled ===

async fn waiting_tasks_never_run(grace: Duration) {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let err = limited(1)
        .grace(grace)
        .run(|scope| async move {
            // Holds the slot; ends by itself soon after the signal, during the
            // grace period if there is one, freeing the slot.
            let running = scope.spawn(|token| async move {
                token.cancelled().await;
                tokio::task::yield_now().await;
                Res::Ok(())
            });
            let waiting: Vec<_> = (0..5)
                .map(|_| {
                    let c = c.clone();
                    scope.spawn(move |_| {
                        c.fetch_add(1, SeqCst);
                        async { Res::Ok(()) }
                    })
                })
                .collect();
            let c2 = c.clone();
            let optional = scope.spawn_optional(move |_| {
                c2.fetch_add(1, SeqCst);
                async { Res::Ok(()) }
            });
            settle().await;
            scope.cancel();
            let _ = running.await;
            for h in waiting {
                assert!(matches!(h.await, Err(TaskError::Cancelled)));
            }
            assert_eq!(optional.await, None);
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert_eq!(
        called.load(SeqCst),
        0,
        "a waiting task ran after cancellation"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_tasks_never_run_when_the_scope_is_cancelled() {
    guard(async move {
        waiting_tasks_never_run(Duration::ZERO).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn waiting_tasks_never_run_when_cancelled_with_a_grace_period() {
    guard(async move {
        waiting_tasks_never_run(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn waiting_tasks_never_run_when_a_failure_cancels_the_scope() {
    guard(async move {
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let err = limited(1)
            .grace(Duration::from_secs(1))
            .run(|scope| async move {
                let (tx, rx) = oneshot::channel::<()>();
                scope.spawn(|_| async move {
                    rx.await.ok();
                    Err::<(), _>("boom")
                });
                let waiting: Vec<_> = (0..5)
                    .map(|_| {
                        let c = c.clone();
                        scope.spawn(move |_| {
                            c.fetch_add(1, SeqCst);
                            async { Res::Ok(()) }
                        })
                    })
                    .collect();
                settle().await;
                tx.send(()).unwrap();
                for h in waiting {
                    assert!(matches!(h.await, Err(TaskError::Cancelled)));
                }
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::TaskFailed(_)));
        assert_eq!(called.load(SeqCst), 0);
    })
    .await;
}

async fn cancelled_waiting_task_passes_its_turn(grace: Duration) {
    let board = Board::default();
    let b = board.clone();
    let skipped = Arc::new(AtomicUsize::new(0));
    let s = skipped.clone();
    limited(1)
        .grace(grace)
        .run(|scope| async move {
            let (first, release) = b.spawn(&scope, 0);
            let victim = scope.spawn(move |_| {
                s.fetch_add(1, SeqCst);
                async { Res::Ok(1) }
            });
            let third = b.spawn_quick(&scope, 2);
            settle().await;
            victim.cancel();
            assert!(matches!(victim.await, Err(TaskError::Cancelled)));
            release.send(()).unwrap();
            assert_eq!(first.await?, 0);
            assert_eq!(third.await?, 2);
            Res::Ok(())
        })
        .await
        .unwrap();
    assert_eq!(board.started(), [0, 2]);
    assert_eq!(skipped.load(SeqCst), 0, "a cancelled waiting task ran");
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiting_task_never_runs_and_passes_its_turn() {
    guard(async move {
        cancelled_waiting_task_passes_its_turn(Duration::ZERO).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiting_task_never_runs_and_passes_its_turn_with_grace() {
    guard(async move {
        cancelled_waiting_task_passes_its_turn(Duration::from_secs(1)).await;
    })
    .await;
}

// === the limit itself ===

#[test]
#[should_panic(expected = "at least 1")]
fn max_concurrency_zero_panics_at_once() {
    // No runtime and no `run`: the builder call itself panics.
    let _ = Scope::builder().max_concurrency(0);
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_one_is_a_valid_limit() {
    guard(async move {
        let value = limited(1)
            .run(|scope| async move {
                let a = scope.spawn(|_| async { Res::Ok(1) });
                let b = scope.spawn(|_| async { Res::Ok(2) });
                Res::Ok(a.await? + b.await?)
            })
            .await
            .unwrap();
        assert_eq!(value, 3);
    })
    .await;
}
