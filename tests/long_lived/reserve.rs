//! Backpressure through `scope.reserve()` (SPEC.md "Long-lived scopes
//! (servers) and blocking work", with `max_concurrency` from "Details"):
//! reservations wait for a slot in turn with queued spawns.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{with_scope, Policy, Reason, Scope, TaskKind, TaskState};
use futures::poll;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::common::{guard, settle, Flag, Res};
use crate::support::*;

#[tokio::test(start_paused = true)]
async fn reserve_a_third_waits_until_one_of_two_slots_frees() {
    guard(async {
        Scope::builder()
            .max_concurrency(2)
            .run(|scope| async move {
                let first = scope.reserve().await.expect("a free slot");
                let second = scope.reserve().await.expect("a free slot");
                let third = scope.reserve();
                let mut third = pin!(third);
                assert!(poll!(third.as_mut()).is_pending());
                tokio::time::sleep(Duration::from_secs(60)).await;
                assert!(
                    poll!(third.as_mut()).is_pending(),
                    "a third slot out of two"
                );
                drop(second);
                let third = expect_ready(
                    poll!(third.as_mut()),
                    "the freed slot did not go to the waiting reserve",
                )
                .expect("the freed slot");
                drop((first, third));
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reserve_slots_go_in_fifo_order_between_reservations_and_queued_spawns() {
    guard(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| {
                let order = order.clone();
                async move {
                    let record = |name: &'static str| {
                        let order = order.clone();
                        move |_| {
                            order.lock().unwrap().push(name);
                            async { Res::Ok(()) }
                        }
                    };
                    let held = scope.reserve().await.expect("a free slot");
                    scope.spawn(record("spawned first"));
                    let reservation = scope.reserve();
                    let mut reservation = pin!(reservation);
                    assert!(poll!(reservation.as_mut()).is_pending(), "jumped the queue");
                    scope.spawn(record("spawned after the reservation"));
                    settle().await;
                    assert!(
                        order.lock().unwrap().is_empty(),
                        "a task ran in a held slot"
                    );
                    drop(held);
                    let permit = reservation.await.expect("its turn");
                    order.lock().unwrap().push("reservation");
                    permit.spawn(record("in the reserved slot"));
                    scope.wait_for_completion().await?;
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            [
                "spawned first",
                "reservation",
                "in the reserved slot",
                "spawned after the reservation"
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_permits_task_runs_in_its_reserved_slot_at_once() {
    guard(async {
        let started = Arc::new(Mutex::new(Vec::new()));
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| {
                let started = started.clone();
                async move {
                    let permit = scope.reserve().await.expect("a free slot");
                    let (s1, s2) = (started.clone(), started.clone());
                    // The reservation holds the only slot: a plain spawn waits.
                    let waiting = scope.spawn(move |_| {
                        s1.lock().unwrap().push("queued");
                        async { Res::Ok(()) }
                    });
                    let (release, released) = oneshot::channel::<()>();
                    let reserved = permit.spawn(move |_| {
                        s2.lock().unwrap().push("reserved");
                        async move {
                            released.await.ok();
                            Res::Ok(())
                        }
                    });
                    settle().await;
                    assert_eq!(*started.lock().unwrap(), ["reserved"]);
                    let snapshot = scope.snapshot();
                    let state_of = |id| {
                        snapshot
                            .tasks()
                            .iter()
                            .find(|t| t.id() == id)
                            .map(|t| t.state())
                    };
                    assert_eq!(state_of(reserved.id()), Some(TaskState::Running));
                    assert_eq!(state_of(waiting.id()), Some(TaskState::Waiting));
                    release.send(()).unwrap();
                    reserved.await?;
                    waiting.await?;
                    assert_eq!(*started.lock().unwrap(), ["reserved", "queued"]);
                    Res::Ok(())
                }
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_permit_spawns_every_kind_in_its_slot() {
    guard(async {
        let err = Scope::builder()
            .policy(Policy::Supervise)
            .max_concurrency(1)
            .run(|scope| async move {
                let normal = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn(|_| async { Res::Ok(1) });
                assert_eq!(normal.await?, 1);
                let optional = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn_optional(fails("optional"));
                assert_eq!(optional.await, None);
                assert_eq!(scope.errors()[0].kind(), TaskKind::Optional);
                let critical = scope
                    .reserve()
                    .await
                    .unwrap()
                    .spawn_critical(fails("critical"));
                critical.await.unwrap_err();
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_permit_unused_frees_its_slot() {
    guard(async {
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                let permit = scope.reserve().await.expect("a free slot");
                let ran = Flag::default();
                let r = ran.clone();
                let queued = scope.spawn(move |_| {
                    r.set();
                    async { Res::Ok("ran") }
                });
                settle().await;
                assert!(!ran.get(), "ran in a reserved slot");
                drop(permit);
                assert_eq!(queued.await?, "ran");
                // And the slot is free again for a reservation.
                let again = scope.reserve();
                let mut again = pin!(again);
                assert!(poll!(again.as_mut()).is_ready());
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reserve_returns_none_at_once_after_cancel_or_shutdown() {
    guard(async {
        for limit in [None, Some(1)] {
            let builder = || match limit {
                None => Scope::builder(),
                Some(n) => Scope::builder().max_concurrency(n),
            };
            let err = builder()
                .run(|scope| async move {
                    scope.cancel();
                    let reserve = scope.reserve();
                    let mut reserve = pin!(reserve);
                    assert!(matches!(
                        poll!(reserve.as_mut()),
                        std::task::Poll::Ready(None)
                    ));
                    Res::Ok(())
                })
                .await
                .unwrap_err();
            assert!(err.is_cancelled());
            builder()
                .run(|scope| async move {
                    scope.shutdown();
                    let reserve = scope.reserve();
                    let mut reserve = pin!(reserve);
                    assert!(matches!(
                        poll!(reserve.as_mut()),
                        std::task::Poll::Ready(None)
                    ));
                    Res::Ok(())
                })
                .await
                .unwrap();
            // After a failure, and after the scope ended.
            let kept = builder()
                .run(|scope| async move {
                    scope.spawn(fails("broken")).await.unwrap_err();
                    assert!(scope.reserve().await.is_none());
                    Res::Ok(scope.clone())
                })
                .await;
            assert!(kept.is_err());
            let kept = builder()
                .run(|scope| async move { Res::Ok(scope) })
                .await
                .unwrap();
            assert!(kept.reserve().await.is_none(), "reserved in an ended scope");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_waiting_reserve_returns_none_when_the_scope_is_cancelled_or_shut_down_meanwhile() {
    guard(async {
        for shutdown in [false, true] {
            let start = Instant::now();
            let outcome = Scope::builder()
                .max_concurrency(1)
                .run(|scope| async move {
                    let _held = scope.reserve().await.expect("a free slot");
                    let stopper = scope.clone();
                    let waited = tokio::join!(scope.reserve(), async move {
                        tokio::time::sleep(Duration::from_secs(9)).await;
                        if shutdown {
                            stopper.shutdown();
                        } else {
                            stopper.cancel();
                        }
                    })
                    .0;
                    assert!(waited.is_none(), "a reservation in a stopped scope");
                    assert_eq!(Instant::now(), start + Duration::from_secs(9));
                    Res::Ok(())
                })
                .await;
            match outcome {
                Ok(()) => assert!(shutdown),
                Err(err) => assert!(!shutdown && err.is_cancelled(), "{err}"),
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_max_concurrency_reserve_returns_some_at_once() {
    guard(async {
        with_scope(|scope| async move {
            let mut permits = Vec::new();
            for _ in 0..100 {
                let reserve = scope.reserve();
                let mut reserve = pin!(reserve);
                match poll!(reserve.as_mut()) {
                    std::task::Poll::Ready(Some(permit)) => permits.push(permit),
                    other => panic!("expected a permit at once, got {other:?}"),
                }
            }
            let handles: Vec<_> = permits
                .into_iter()
                .enumerate()
                .map(|(i, permit)| permit.spawn(move |_| async move { Res::Ok(i) }))
                .collect();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await?, i);
            }
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_reserve_gives_its_place_to_the_next() {
    guard(async {
        Scope::builder()
            .max_concurrency(1)
            .run(|scope| async move {
                // Dropped while it waits in the queue.
                let held = scope.reserve().await.expect("a free slot");
                let mut first = Box::pin(scope.reserve());
                assert!(poll!(first.as_mut()).is_pending());
                let second = scope.reserve();
                let mut second = pin!(second);
                assert!(poll!(second.as_mut()).is_pending());
                drop(first);
                drop(held);
                let held = expect_ready(
                    poll!(second.as_mut()),
                    "the dropped reservation kept its place",
                )
                .expect("the slot");

                // Dropped after its slot was handed to it, before it saw it.
                let mut first = Box::pin(scope.reserve());
                assert!(poll!(first.as_mut()).is_pending());
                let third = scope.reserve();
                let mut third = pin!(third);
                assert!(poll!(third.as_mut()).is_pending());
                drop(held); // the slot goes to `first`...
                drop(first); // ...which passes it on
                let held = expect_ready(
                    poll!(third.as_mut()),
                    "a dropped reservation took the slot with it",
                )
                .expect("the slot");

                // And a queued task gets a slot a dropped reservation gave up.
                let mut reservation = Box::pin(scope.reserve());
                assert!(poll!(reservation.as_mut()).is_pending());
                let task = scope.spawn(|_| async { Res::Ok("ran") });
                drop(held);
                drop(reservation);
                assert_eq!(task.await?, "ran");
                Res::Ok(())
            })
            .await
            .unwrap();
    })
    .await;
}

/// Counts a connection as running from its start until its future is gone
/// (it ends, or the shutdown aborts it).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn enter(running: &Arc<AtomicUsize>, max_running: &AtomicUsize) -> Running {
        let now = running.fetch_add(1, SeqCst) + 1;
        max_running.fetch_max(now, SeqCst);
        Running(running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn an_accept_loop_never_has_more_than_the_limit_running() {
    const LIMIT: usize = 3;
    const CONNECTIONS: usize = 200;
    guard(async {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), max_running.clone());
        let served = Scope::builder()
            .policy(Policy::Supervise)
            .max_concurrency(LIMIT)
            .run(|scope| async move {
                let mut accepted = 0;
                while let Some(permit) = scope.reserve().await {
                    // listener.accept().await in a server: it takes a while.
                    tokio::time::sleep(Duration::from_millis((accepted % 3) as u64)).await;
                    let (r, m) = (r.clone(), m.clone());
                    permit.spawn(move |_| async move {
                        let _running = Running::enter(&r, &m);
                        tokio::time::sleep(Duration::from_millis(1 + (accepted * 7 % 13) as u64))
                            .await;
                        if accepted % 10 == 0 {
                            return Err("connection reset");
                        }
                        Ok(())
                    });
                    accepted += 1;
                    if accepted == CONNECTIONS {
                        scope.shutdown();
                    }
                }
                Res::Ok(accepted)
            })
            .await
            .unwrap();
        assert_eq!(served, CONNECTIONS);
        assert_eq!(
            max_running.load(SeqCst),
            LIMIT,
            "the limit was never reached"
        );
        assert_eq!(running.load(SeqCst), 0);
    })
    .await;
}
