//! Error handlers (SPEC.md, "Rules": "error handler (`on_error`)"; the
//! paragraph "no failure is lost, and no handler sees one twice"; "Details":
//! later Normal failures after a Cancel-policy failure go to no handler, a
//! panicking handler never fails its scope). The tests that spawn tasks
//! directly run once per spawner (`rule::spawn`, `rule::spawn_local`: see
//! `common::per_spawner!`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{BoxError, Policy, Reason, Scope, TaskFailure, TaskId, TaskKind};

mod common;

use common::{fails, guard, guard_for, per_spawner, Failing, Res, Spawner};

// === helpers ===

/// Records every failure an error handler receives, by handler name.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(&'static str, TaskFailure)>>>);

impl Log {
    fn handler(&self, name: &'static str) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
        let log = self.0.clone();
        move |failure| log.lock().unwrap().push((name, failure.clone()))
    }

    /// A handler that records, then panics: on the first call only when `once`.
    fn panicking(
        &self,
        name: &'static str,
        once: bool,
    ) -> impl Fn(&TaskFailure) + Send + Sync + 'static {
        let log = self.0.clone();
        let calls = AtomicUsize::new(0);
        move |failure| {
            log.lock().unwrap().push((name, failure.clone()));
            if !once || calls.fetch_add(1, SeqCst) == 0 {
                panic!("handler {name} exploded");
            }
        }
    }

    fn entries(&self) -> Vec<(&'static str, TaskId)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(name, f)| (*name, f.task()))
            .collect()
    }

    fn names(&self) -> Vec<&'static str> {
        self.entries().into_iter().map(|(name, _)| name).collect()
    }
}

type Ids = Arc<Mutex<Vec<TaskId>>>;

fn ids() -> Ids {
    Arc::new(Mutex::new(Vec::new()))
}

fn supervised() -> async_scope::ScopeBuilder {
    Scope::builder().policy(Policy::Supervise)
}

async fn fail_once(scope: &Scope, ids: &Ids, message: &'static str) {
    let h = scope.spawn(move |_| async move { Err::<(), _>(message) });
    ids.lock().unwrap().push(h.id());
    let _ = h.await;
}

// === the rules that concern tasks, once per spawner ===

per_spawner!(
    handler_is_called_for_an_optional_failure_under_cancel,
    handler_is_not_called_for_a_failure_that_fails_the_scope,
    handler_is_not_called_for_cancellation,
    later_normal_failures_after_a_cancel_policy_failure_go_to_no_handler,
    nested_scope_in_a_task_uses_the_ancestor_handler,
    panicking_handler_without_a_handler_above_loses_nothing,
    panicking_handler_never_fails_its_scope,
);

// === which failures go to a handler ===

#[tokio::test(start_paused = true)]
async fn handler_is_called_once_for_a_supervised_failure() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let i = ids.clone();
        supervised()
            .on_error(log.handler("root"))
            .run(|scope| async move {
                fail_once(&scope, &i, "boom").await;
                Res::Ok(())
            })
            .await
            .unwrap();
        let id = ids.lock().unwrap()[0];
        assert_eq!(log.entries(), [("root", id)]);
        let failure = &log.0.lock().unwrap()[0].1;
        assert_eq!(failure.kind(), TaskKind::Normal);
        assert_eq!(failure.error().to_string(), "boom");
    })
    .await;
}

async fn handler_is_called_for_an_optional_failure_under_cancel(sp: Spawner) {
    let log = Log::default();
    with_scope_handler(&log, |scope| async move {
        let h = sp.spawn_optional(&scope, |_| async { Err::<(), _>("metrics down") });
        let id = h.id();
        assert_eq!(h.await, None);
        Res::Ok(id)
    })
    .await
    .map(|id| assert_eq!(log.entries(), [("root", id)]))
    .unwrap();
}

async fn with_scope_handler<F, Fut, T>(log: &Log, body: F) -> Result<T, async_scope::ScopeError>
where
    F: FnOnce(Scope) -> Fut,
    Fut: std::future::Future<Output = Res<T>>,
{
    Scope::builder()
        .on_error(log.handler("root"))
        .run(body)
        .await
}

async fn handler_is_not_called_for_a_failure_that_fails_the_scope(sp: Spawner) {
    // Normal under Cancel.
    let log = Log::default();
    let err = with_scope_handler(&log, |scope| async move {
        sp.spawn(&scope, |_| async { Err::<(), _>("boom") });
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
    assert_eq!(err.failures().len(), 1);
    assert!(
        log.entries().is_empty(),
        "a scope-failing failure reached a handler"
    );

    // Critical under Supervise.
    let log = Log::default();
    let err = supervised()
        .on_error(log.handler("root"))
        .run(|scope| async move {
            sp.spawn_critical(&scope, |_| async { Err::<(), _>("boom") });
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
    assert!(
        log.entries().is_empty(),
        "a critical failure reached a handler"
    );
}

async fn handler_is_not_called_for_cancellation(sp: Spawner) {
    let log = Log::default();
    let _ = supervised()
        .on_error(log.handler("root"))
        .run(|scope| async move {
            let a = sp.spawn(&scope, |_| std::future::pending::<Res>());
            let b = sp.spawn_optional(&scope, |_| std::future::pending::<Res>());
            tokio::task::yield_now().await;
            a.cancel();
            let _ = a.await;
            scope.cancel();
            let _ = b.await;
            Res::Ok(())
        })
        .await;
    assert!(log.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn handler_is_not_called_for_the_body_error() {
    guard(async move {
        let log = Log::default();
        let _ = supervised()
            .on_error(log.handler("root"))
            .run(|_| async { Err::<(), _>("body") })
            .await;
        assert!(log.entries().is_empty());
    })
    .await;
}

async fn later_normal_failures_after_a_cancel_policy_failure_go_to_no_handler(sp: Spawner) {
    let log = Log::default();
    let ids = ids();
    let i = ids.clone();
    let err = Scope::builder()
        .on_error(log.handler("root"))
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let late: Vec<_> = (0..3)
                .map(|n| {
                    sp.spawn(&scope, move |token| async move {
                        token.cancelled().await;
                        Err::<(), _>(format!("late {n}"))
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            let first = sp.spawn(&scope, |_| async { Err::<(), _>("first") });
            i.lock().unwrap().push(first.id());
            let _ = first.await;
            for h in late {
                i.lock().unwrap().push(h.id());
                let _ = h.await;
            }
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(f) if f.error().to_string() == "first"));
    assert_eq!(
        err.failures().len(),
        4,
        "the later failures are still collected"
    );
    let mut listed: Vec<_> = err.failures().iter().map(TaskFailure::task).collect();
    listed.sort();
    let mut expected = ids.lock().unwrap().clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        log.entries().is_empty(),
        "a later Normal failure reached a handler"
    );
}

// === the nearest handler ===

#[tokio::test(start_paused = true)]
async fn nested_scope_without_handler_uses_the_nearest_ancestor_handler() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let i = ids.clone();
        supervised()
            .on_error(log.handler("root"))
            .run(|_| async move {
                // root (handler) → child (none) → grandchild (none)
                supervised()
                    .run(|_| async move {
                        supervised()
                            .run(|grandchild| async move {
                                fail_once(&grandchild, &i, "deep").await;
                                Res::Ok(())
                            })
                            .await?;
                        Res::Ok(())
                    })
                    .await?;
                Res::Ok(())
            })
            .await
            .unwrap();
        let id = ids.lock().unwrap()[0];
        assert_eq!(log.entries(), [("root", id)]);
    })
    .await;
}

/// A scope nested in a task, with no handler of its own, sends its
/// supervised Normal failure and its Optional failure once each, in order,
/// to the nearest ancestor's handler; those failures belong to the nested
/// scope, not to the one with the handler.
async fn nested_scope_in_a_task_uses_the_ancestor_handler(sp: Spawner) {
    let log = Log::default();
    let l = log.clone();
    supervised()
        .on_error(log.handler("root"))
        .run(|scope| async move {
            let nested = sp.spawn(&scope, move |_| async move {
                supervised()
                    .run(|inner| async move {
                        let normal = sp.spawn(&inner, fails(Failing::Err, "deep"));
                        let normal_id = normal.id();
                        assert!(normal.await.is_err());
                        let optional =
                            sp.spawn_optional(&inner, fails(Failing::Err, "optional deep"));
                        let optional_id = optional.id();
                        assert_eq!(optional.await, None);
                        inner.wait_for_completion().await?;
                        assert_eq!(inner.errors().len(), 2);
                        Res::Ok([normal_id, optional_id])
                    })
                    .await
                    .map_err(BoxError::from)
            });
            let [normal_id, optional_id] = nested.await?;
            assert_eq!(l.entries(), [("root", normal_id), ("root", optional_id)]);
            assert!(
                scope.errors().is_empty(),
                "a nested failure belongs to the nested scope"
            );
            Res::Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn nested_handler_takes_over_from_its_parent() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let (l, i) = (log.clone(), ids.clone());
        supervised()
            .on_error(log.handler("root"))
            .run(|root| async move {
                supervised()
                    .on_error(l.handler("child"))
                    .run(|child| {
                        let i = i.clone();
                        async move {
                            fail_once(&child, &i, "in child").await;
                            Res::Ok(())
                        }
                    })
                    .await?;
                fail_once(&root, &i, "in root").await;
                Res::Ok(())
            })
            .await
            .unwrap();
        let ids = ids.lock().unwrap().clone();
        assert_eq!(log.entries(), [("child", ids[0]), ("root", ids[1])]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn handler_of_a_cancel_policy_ancestor_receives_a_childs_supervised_failures() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let i = ids.clone();
        with_scope_handler(&log, |_| async move {
            supervised()
                .run(|child| async move {
                    fail_once(&child, &i, "supervised in child").await;
                    Res::Ok(())
                })
                .await?;
            Res::Ok(())
        })
        .await
        .unwrap();
        let id = ids.lock().unwrap()[0];
        assert_eq!(log.entries(), [("root", id)]);
    })
    .await;
}

// === a handler that panics ===

#[tokio::test(start_paused = true)]
async fn panicking_handler_is_removed_and_the_failure_goes_to_the_next_handler_up() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let (l, i) = (log.clone(), ids.clone());
        supervised()
            .on_error(log.handler("root"))
            .run(|_| async move {
                supervised()
                    .on_error(l.panicking("child", true))
                    .run(|child| {
                        let i = i.clone();
                        async move {
                            fail_once(&child, &i, "first").await;
                            fail_once(&child, &i, "second").await;
                            Res::Ok(())
                        }
                    })
                    .await?;
                Res::Ok(())
            })
            .await
            .unwrap();
        let ids = ids.lock().unwrap().clone();
        // The child handler saw the first failure and panicked: that failure and
        // the next go to the root; the child handler is never called again, even
        // though it would not panic a second time.
        assert_eq!(
            log.entries(),
            [("child", ids[0]), ("root", ids[0]), ("root", ids[1])]
        );
    })
    .await;
}

async fn panicking_handler_without_a_handler_above_loses_nothing(sp: Spawner) {
    let log = Log::default();
    let keep = Arc::new(Mutex::new(None::<Scope>));
    let k = keep.clone();
    supervised()
        .on_error(log.panicking("only", false))
        .run(|scope| async move {
            *k.lock().unwrap() = Some(scope.clone());
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("first") }).await;
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("second") }).await;
            Res::Ok(())
        })
        .await
        .unwrap();
    assert_eq!(log.names(), ["only"], "a removed handler was called again");
    let errors = keep.lock().unwrap().take().unwrap().errors();
    assert_eq!(errors.len(), 2, "a failure was lost with the handler");
}

async fn panicking_handler_never_fails_its_scope(sp: Spawner) {
    let log = Log::default();
    let value = supervised()
        .on_error(log.panicking("only", false))
        .run(|scope| async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let sibling = sp.spawn(&scope, |_| async move {
                rx.await.ok();
                Res::Ok(1)
            });
            let _ = sp.spawn(&scope, |_| async { Err::<(), _>("boom") }).await;
            let _ = sp
                .spawn_optional(&scope, |_| async { Err::<(), _>("boom") })
                .await;
            assert!(!scope.is_cancelled());
            tx.send(()).unwrap();
            Res::Ok(sibling.await? + 1)
        })
        .await
        .unwrap();
    assert_eq!(value, 2);
}

#[tokio::test(start_paused = true)]
async fn panicking_handlers_fall_through_every_level() {
    guard(async move {
        let log = Log::default();
        let ids = ids();
        let (l, i) = (log.clone(), ids.clone());
        supervised()
            .on_error(log.handler("root"))
            .run(|_| async move {
                let l2 = l.clone();
                supervised()
                    .on_error(l.panicking("child", false))
                    .run(|_| async move {
                        supervised()
                            .on_error(l2.panicking("grandchild", false))
                            .run(|grandchild| async move {
                                fail_once(&grandchild, &i, "a").await;
                                fail_once(&grandchild, &i, "b").await;
                                Res::Ok(())
                            })
                            .await?;
                        Res::Ok(())
                    })
                    .await?;
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(log.names(), ["grandchild", "child", "root", "root"]);
    })
    .await;
}

// === no failure lost, none seen twice ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reported_failure_reaches_exactly_one_handler() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        let log = Log::default();
        let l = log.clone();
        let scopes = Arc::new(Mutex::new(Vec::<Scope>::new()));
        let s = scopes.clone();
        supervised()
            .on_error(log.handler("root"))
            .run(|root| async move {
                s.lock().unwrap().push(root.clone());
                for n in 0..4 {
                    let (l, s) = (l.clone(), s.clone());
                    root.spawn(move |_| async move {
                        // Alternate: a child with its own handler, a child without.
                        let builder = if n % 2 == 0 {
                            supervised().on_error(l.handler("child"))
                        } else {
                            supervised()
                        };
                        builder
                            .run(|child| async move {
                                s.lock().unwrap().push(child.clone());
                                for k in 0..50 {
                                    if k % 2 == 0 {
                                        child.spawn(move |_| async move {
                                            Err::<(), _>(format!("{k}"))
                                        });
                                    } else {
                                        child.spawn_optional(move |_| async move {
                                            tokio::task::yield_now().await;
                                            Err::<(), _>(format!("{k}"))
                                        });
                                    }
                                }
                                Res::Ok(())
                            })
                            .await
                            .map_err(BoxError::from)
                    });
                }
                Res::Ok(())
            })
            .await
            .unwrap();
        let mut handled: Vec<_> = log.entries().into_iter().map(|(_, id)| id).collect();
        handled.sort();
        let before = handled.len();
        handled.dedup();
        assert_eq!(before, handled.len(), "a handler saw a failure twice");
        let mut recorded: Vec<_> = scopes
            .lock()
            .unwrap()
            .iter()
            .flat_map(Scope::errors)
            .map(|f| f.task())
            .collect();
        recorded.sort();
        assert_eq!(recorded.len(), 200);
        assert_eq!(handled, recorded, "a failure was lost");
        let names = log.names();
        assert_eq!(names.iter().filter(|n| **n == "child").count(), 100);
        assert_eq!(names.iter().filter(|n| **n == "root").count(), 100);
    })
    .await;
}
