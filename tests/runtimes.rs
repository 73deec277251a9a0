//! Runtimes (SPEC.md, "Rules": "runtimes", "called outside a Tokio
//! runtime", and "a `Scope` handle used after its scope ended" from a thread
//! with no runtime). The same scenarios run on a current_thread and a
//! multi_thread runtime; outside any runtime a scope panics with a message
//! that says a Tokio runtime is needed.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use async_scope::{with_scope, Policy, Reason, Scope, TaskError};

mod common;

use common::{guard_for, panic_text, Res};

// === helpers ===

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once, outside any runtime.
fn poll_outside_runtime<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    pin!(fut).poll(&mut cx)
}

/// Generates one test per runtime flavour from an `async fn` scenario.
macro_rules! on_both_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread", start_paused = true)]
                async fn $scenario() {
                    // Paused time: the hour passes as soon as the test is stuck.
                    crate::common::guard(super::$scenario()).await;
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::common::guard_for(std::time::Duration::from_secs(60), super::$scenario()).await;
                }
            )*
        }
    };
}

on_both_runtimes!(
    values_come_back,
    cancel_policy_failure_cancels_siblings,
    supervise_policy_failure_is_collected,
    critical_failure_fails_the_scope,
    optional_failure_yields_none,
    scope_cancel_refuses_later_spawns,
    nested_scopes_in_tasks_follow_parent_cancel,
    tasks_spawn_tasks_from_any_thread,
    max_concurrency_keeps_spawn_order,
    body_panic_continues_after_join,
);

// === scenarios ===

async fn values_come_back() {
    let sum = with_scope(|scope| async move {
        let handles: Vec<_> = (0..100u64)
            .map(|i| scope.spawn(move |_| async move { Res::Ok(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Res::Ok(sum)
    })
    .await
    .unwrap();
    assert_eq!(sum, 4950);
}

async fn cancel_policy_failure_cancels_siblings() {
    let err = with_scope(|scope| async move {
        let siblings: Vec<_> = (0..10)
            .map(|_| scope.spawn(|_| std::future::pending::<Res>()))
            .collect();
        scope.spawn(|_| async { Err::<(), _>("boom") });
        for h in siblings {
            assert!(matches!(h.await, Err(TaskError::Cancelled)));
        }
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert_eq!(err.failures().len(), 1);
}

async fn supervise_policy_failure_is_collected() {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    Scope::builder()
        .policy(Policy::Supervise)
        .on_error(move |_| {
            h.fetch_add(1, SeqCst);
        })
        .run(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            for i in 0..50 {
                scope.spawn(move |_| async move {
                    tokio::task::yield_now().await;
                    if i % 5 == 0 {
                        Err::<(), _>("flaky")
                    } else {
                        Ok(())
                    }
                });
            }
            Res::Ok(())
        })
        .await
        .unwrap();
    assert_eq!(handled.load(SeqCst), 10);
    assert_eq!(keep.lock().unwrap().take().unwrap().errors().len(), 10);
}

async fn critical_failure_fails_the_scope() {
    let err = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            let sibling = scope.spawn(|_| std::future::pending::<Res>());
            scope.spawn_critical(|_| async { Err::<(), _>("commit failed") });
            assert!(matches!(sibling.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
}

async fn optional_failure_yields_none() {
    with_scope(|scope| async move {
        assert_eq!(
            scope
                .spawn_optional(|_| async { Err::<u8, _>("metrics down") })
                .await,
            None
        );
        assert_eq!(
            scope.spawn_optional(|_| async { Res::Ok(1) }).await,
            Some(1)
        );
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn scope_cancel_refuses_later_spawns() {
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    let err = with_scope(|scope| async move {
        scope.cancel();
        let late = scope.spawn(move |_| {
            c.store(true, SeqCst);
            async { Res::Ok(()) }
        });
        assert!(matches!(late.await, Err(TaskError::Cancelled)));
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert!(!called.load(SeqCst));
}

async fn nested_scopes_in_tasks_follow_parent_cancel() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(tokio::sync::Barrier::new(9));
    let (r, s) = (reasons.clone(), started.clone());
    let err = Scope::builder()
        .grace(std::time::Duration::from_secs(60))
        .run(|scope| async move {
            for _ in 0..8 {
                let (r, s) = (r.clone(), s.clone());
                scope.spawn(move |_| async move {
                    let result = with_scope(|inner| async move {
                        s.wait().await;
                        inner.signal().cancelled().await;
                        Res::Ok(())
                    })
                    .await;
                    r.lock()
                        .unwrap()
                        .push(result.is_err_and(|e| e.is_cancelled()));
                    Res::Ok(())
                });
            }
            s.wait().await;
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(*reasons.lock().unwrap(), [true; 8]);
}

async fn tasks_spawn_tasks_from_any_thread() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    with_scope(|scope| async move {
        for _ in 0..10 {
            let c = c.clone();
            scope.spawn(move |_| async move {
                let scope = Scope::current().unwrap();
                for _ in 0..10 {
                    let c = c.clone();
                    scope.spawn(move |_| async move {
                        c.fetch_add(1, SeqCst);
                        Res::Ok(())
                    });
                    tokio::task::yield_now().await;
                }
                Res::Ok(())
            });
        }
        Res::Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        count.load(SeqCst),
        100,
        "the scope ended before tasks spawned by tasks"
    );
}

async fn max_concurrency_keeps_spawn_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    Scope::builder()
        .max_concurrency(1)
        .run(|scope| async move {
            for i in 0..100 {
                let o = o.clone();
                scope.spawn(move |_| {
                    o.lock().unwrap().push(i);
                    async {
                        tokio::task::yield_now().await;
                        Res::Ok(())
                    }
                });
            }
            Res::Ok(())
        })
        .await
        .unwrap();
    assert_eq!(*order.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

async fn body_panic_continues_after_join() {
    let joined = Arc::new(AtomicBool::new(false));
    let j = joined.clone();
    let out = tokio::spawn(async move {
        with_scope(|scope| async move {
            scope.spawn(move |_| async move {
                struct SetOnDrop(Arc<AtomicBool>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, SeqCst);
                    }
                }
                let _guard = SetOnDrop(j);
                std::future::pending::<()>().await;
                Res::Ok(())
            });
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("body exploded");
            }
            Res::Ok(())
        })
        .await
    })
    .await;
    let err = out.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(panic_text(&*err.into_panic()), "body exploded");
    assert!(joined.load(SeqCst));
}

// === outside a runtime ===

#[test]
fn with_scope_outside_a_runtime_panics_saying_a_tokio_runtime_is_needed() {
    let payload = catch_unwind(AssertUnwindSafe(|| {
        let _ = poll_outside_runtime(with_scope(|_| async { Res::Ok(()) }));
    }))
    .expect_err("a scope ran outside a runtime");
    let text = panic_text(&*payload);
    assert!(text.contains("Tokio runtime"), "unhelpful panic: {text:?}");
}

#[test]
fn builder_run_outside_a_runtime_panics_saying_a_tokio_runtime_is_needed() {
    let payload = catch_unwind(AssertUnwindSafe(|| {
        let _ = poll_outside_runtime(
            Scope::builder()
                .policy(Policy::Supervise)
                .run(|_| async { Res::Ok(()) }),
        );
    }))
    .expect_err("a scope ran outside a runtime");
    let text = panic_text(&*payload);
    assert!(text.contains("Tokio runtime"), "unhelpful panic: {text:?}");
}

#[test]
fn an_ended_scope_handle_is_harmless_outside_any_runtime() {
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(with_scope(|scope| async move {
        *k.lock().unwrap() = Some(scope);
        Res::Ok(())
    }))
    .unwrap();
    drop(rt);
    let scope = keep.lock().unwrap().take().unwrap();
    let called = Arc::new(AtomicBool::new(false));
    let c = called.clone();
    // From a plain thread, the runtime gone: nothing panics, nothing runs.
    std::thread::spawn(move || {
        let late = scope.spawn(move |_| {
            c.store(true, SeqCst);
            async { Res::Ok(()) }
        });
        assert!(matches!(
            poll_outside_runtime(late),
            Poll::Ready(Err(TaskError::Cancelled))
        ));
        let optional = scope.spawn_optional(|_| async { Res::Ok(()) });
        assert!(matches!(poll_outside_runtime(optional), Poll::Ready(None)));
        assert!(scope.errors().is_empty());
        assert!(!scope.is_cancelled());
        scope.cancel();
    })
    .join()
    .expect("using an ended scope's handle panicked");
    assert!(!called.load(SeqCst));
}

// === runtime set-ups ===

#[test]
fn a_runtime_without_timers_runs_scopes_without_timeouts() {
    // Only `Builder::new_current_thread().build()`: no time driver, no IO.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let value = rt
        .block_on(with_scope(|scope| async move {
            let a = scope.spawn(|_| async { Res::Ok(1) });
            let b = scope.spawn_optional(|_| async { Res::Ok(2) });
            Res::Ok(a.await? + b.await.unwrap_or(0))
        }))
        .unwrap();
    assert_eq!(value, 3);
}

#[test]
fn runtime_block_on_runs_a_scope() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let value = rt
        .block_on(with_scope(|scope| async move {
            Res::Ok(scope.spawn(|_| async { Res::Ok("ran") }).await?)
        }))
        .unwrap();
    assert_eq!(value, "ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_future_is_send_and_runs_in_tokio_spawn() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                tokio::spawn(with_scope(move |scope| async move {
                    Res::Ok(scope.spawn(move |_| async move { Res::Ok(i * 2) }).await?)
                }))
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap().unwrap();
        }
        assert_eq!(total, 56);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn scopes_run_inside_a_local_set() {
    let local = tokio::task::LocalSet::new();
    let value = local
        .run_until(async {
            with_scope(|scope| async move {
                // The body may hold non-Send values: it is polled inline.
                let not_send = std::rc::Rc::new(5);
                let h = scope.spawn(|_| async { Res::Ok(1) });
                Res::Ok(*not_send + h.await?)
            })
            .await
        })
        .await
        .unwrap();
    assert_eq!(value, 6);
}
