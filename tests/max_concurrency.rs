//! `max_concurrency` (SPEC.md, "Rules": "`max_concurrency(n)`"; "Details":
//! tasks waiting for a slot when the scope is cancelled never run,
//! `max_concurrency(0)` panics at once). Each task records when its closure
//! is called ("started") and holds a receiver the test controls, so the
//! number running at once is exact. Each rule test runs once per spawner
//! (`rule::spawn`, `rule::spawn_local`: see `common::per_spawner!`); the
//! multi_thread ones are for Send tasks only.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{BoxError, CancellationToken, Policy, Reason, Scope, TaskError, TaskHandle};
use tokio::sync::oneshot;

mod common;

use common::{counted, guard_for, per_spawner, settle, Live, Res, Spawner, Task};

// === helpers ===

/// What the tasks of one test did; they are spawned by `sp`.
#[derive(Clone)]
struct Board {
    sp: Spawner,
    /// Task numbers in the order their closures were called.
    started: Arc<Mutex<Vec<usize>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

impl Default for Board {
    fn default() -> Self {
        Self::spawned_by(Spawner::Send)
    }
}

impl Board {
    fn spawned_by(sp: Spawner) -> Self {
        Self {
            sp,
            started: Arc::default(),
            running: Arc::default(),
            max_running: Arc::default(),
        }
    }

    fn started(&self) -> Vec<usize> {
        self.started.lock().unwrap().clone()
    }

    fn max_running(&self) -> usize {
        self.max_running.load(SeqCst)
    }

    /// Task `n`: it records its start, then runs until the sender fires.
    fn task(
        &self,
        n: usize,
    ) -> (
        impl FnOnce(CancellationToken) -> Task<usize> + Send + 'static,
        oneshot::Sender<()>,
    ) {
        let (tx, rx) = oneshot::channel::<()>();
        let board = self.clone();
        let task = move |_| {
            board.started.lock().unwrap().push(n);
            let now = board.running.fetch_add(1, SeqCst) + 1;
            board.max_running.fetch_max(now, SeqCst);
            Box::pin(async move {
                rx.await.ok();
                board.running.fetch_sub(1, SeqCst);
                Ok(n)
            }) as Task<usize>
        };
        (task, tx)
    }

    /// Spawns task `n` (see [`Board::task`]).
    fn spawn(&self, scope: &Scope, n: usize) -> (TaskHandle<usize>, oneshot::Sender<()>) {
        let (task, tx) = self.task(n);
        (self.sp.spawn(scope, task), tx)
    }

    /// Spawns task `n`, which records its start and ends at once after a yield.
    fn spawn_quick(&self, scope: &Scope, n: usize) -> TaskHandle<usize> {
        let board = self.clone();
        self.sp.spawn(scope, move |_| {
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

// === the rules, once per spawner ===

per_spawner!(
    max_concurrency_limits_running_tasks,
    waiting_tasks_start_in_spawn_order_on_current_thread,
    every_task_kind_counts_toward_the_limit,
    tasks_spawned_by_tasks_wait_their_turn_too,
    failed_and_panicked_tasks_release_their_slot,
    cancelling_a_running_task_releases_its_slot,
    waiting_tasks_never_run_when_the_scope_is_cancelled,
    waiting_tasks_never_run_when_cancelled_with_a_grace_period,
    waiting_tasks_never_run_when_a_failure_cancels_the_scope,
    cancelled_waiting_task_never_runs_and_passes_its_turn,
    cancelled_waiting_task_never_runs_and_passes_its_turn_with_grace,
    max_concurrency_one_is_a_valid_limit,
);

// === at most n at once, in spawn order ===

/// With tasks of every spawn method (Normal, Critical, named), at most `n`
/// run at once, and the others start in spawn order, each as a slot frees.
async fn max_concurrency_limits_running_tasks(sp: Spawner) {
    let board = Board::spawned_by(sp);
    let b = board.clone();
    limited(2)
        .run(|scope| async move {
            let (handles, mut releases): (Vec<_>, Vec<_>) = (0..6)
                .map(|n| {
                    let (task, tx) = b.task(n);
                    let handle = match n % 3 {
                        0 => sp.spawn(&scope, task),
                        1 => sp.spawn_critical(&scope, task),
                        _ => sp.named(&scope, format!("t{n}")).spawn(task),
                    };
                    (handle, tx)
                })
                .unzip();
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
}

async fn waiting_tasks_start_in_spawn_order_on_current_thread(sp: Spawner) {
    let board = Board::spawned_by(sp);
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

async fn every_task_kind_counts_toward_the_limit(sp: Spawner) {
    let started = Arc::new(Mutex::new(Vec::new()));
    let s = started.clone();
    limited(1)
        .run(|scope| async move {
            let (tx, rx) = oneshot::channel::<()>();
            let s1 = s.clone();
            sp.spawn_critical(&scope, move |_| {
                s1.lock().unwrap().push("critical");
                async move {
                    rx.await.ok();
                    Res::Ok(())
                }
            });
            let s2 = s.clone();
            sp.spawn_optional(&scope, move |_| {
                s2.lock().unwrap().push("optional");
                async { Res::Ok(()) }
            });
            let s3 = s.clone();
            sp.spawn(&scope, move |_| {
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
}

async fn tasks_spawned_by_tasks_wait_their_turn_too(sp: Spawner) {
    let board = Board::spawned_by(sp);
    let b = board.clone();
    limited(1)
        .run(|scope| async move {
            let (first, release) = b.spawn(&scope, 0);
            let b2 = b.clone();
            let spawner = sp.spawn(&scope, move |_| async move {
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
}

async fn failed_and_panicked_tasks_release_their_slot(sp: Spawner) {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    Scope::builder()
        .policy(Policy::Supervise)
        .max_concurrency(1)
        .run(|scope| async move {
            for n in 0..6 {
                let s = s.clone();
                sp.spawn(&scope, move |_| {
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
}

async fn cancelling_a_running_task_releases_its_slot(sp: Spawner) {
    let board = Board::spawned_by(sp);
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
}

// === waiting tasks never run once cancelled ===

/// Tasks waiting for a slot when the scope is cancelled never run: their
/// closures are never called (before or after the cancel), their handles
/// yield `Cancelled` (`None`); the running one is cancelled with its token.
async fn waiting_tasks_never_run(sp: Spawner, grace: Duration) {
    let live = Live::default();
    let called = Arc::new(AtomicUsize::new(0));
    let (l, c) = (live.clone(), called.clone());
    let err = limited(1)
        .grace(grace)
        .run(|scope| async move {
            // Holds the slot; ends by itself soon after the signal, during the
            // grace period if there is one, freeing the slot.
            let probe = l.clone();
            let running = sp.spawn(&scope, move |token| async move {
                let _probe = probe.watch(&token);
                token.cancelled().await;
                tokio::task::yield_now().await;
                Res::Ok(())
            });
            let waiting: Vec<_> = (0..5).map(|_| sp.spawn(&scope, counted(&c))).collect();
            let optional = sp.spawn_optional(&scope, counted(&c));
            l.reaches(1).await;
            settle().await;
            assert_eq!(c.load(SeqCst), 0, "a task ran beyond the limit");
            scope.cancel();
            let running = running.await;
            if grace.is_zero() {
                assert!(matches!(running, Err(TaskError::Cancelled)));
            } else {
                assert!(running.is_ok(), "{running:?}");
            }
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
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

async fn waiting_tasks_never_run_when_the_scope_is_cancelled(sp: Spawner) {
    waiting_tasks_never_run(sp, Duration::ZERO).await;
}

async fn waiting_tasks_never_run_when_cancelled_with_a_grace_period(sp: Spawner) {
    waiting_tasks_never_run(sp, Duration::from_secs(1)).await;
}

async fn waiting_tasks_never_run_when_a_failure_cancels_the_scope(sp: Spawner) {
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let err = limited(1)
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let (tx, rx) = oneshot::channel::<()>();
            sp.spawn(&scope, |_| async move {
                rx.await.ok();
                Err::<(), _>("boom")
            });
            let waiting: Vec<_> = (0..5)
                .map(|_| {
                    let c = c.clone();
                    sp.spawn(&scope, move |_| {
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
}

async fn cancelled_waiting_task_passes_its_turn(sp: Spawner, grace: Duration) {
    let board = Board::spawned_by(sp);
    let b = board.clone();
    let skipped = Arc::new(AtomicUsize::new(0));
    let s = skipped.clone();
    limited(1)
        .grace(grace)
        .run(|scope| async move {
            let (first, release) = b.spawn(&scope, 0);
            let victim = sp.spawn(&scope, move |_| {
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

async fn cancelled_waiting_task_never_runs_and_passes_its_turn(sp: Spawner) {
    cancelled_waiting_task_passes_its_turn(sp, Duration::ZERO).await;
}

async fn cancelled_waiting_task_never_runs_and_passes_its_turn_with_grace(sp: Spawner) {
    cancelled_waiting_task_passes_its_turn(sp, Duration::from_secs(1)).await;
}

// === the limit itself ===

#[test]
#[should_panic(expected = "at least 1")]
fn max_concurrency_zero_panics_at_once() {
    // No runtime and no `run`: the builder call itself panics.
    let _ = Scope::builder().max_concurrency(0);
}

async fn max_concurrency_one_is_a_valid_limit(sp: Spawner) {
    let value = limited(1)
        .run(|scope| async move {
            let a = sp.spawn(&scope, |_| async { Res::Ok(1) });
            let b = sp.spawn(&scope, |_| async { Res::Ok(2) });
            Res::Ok(a.await? + b.await?)
        })
        .await
        .unwrap();
    assert_eq!(value, 3);
}
