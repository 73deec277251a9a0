//! Nested scopes (SPEC.md, "Rules": "nesting", "parent cancelled", "child
//! scope fails"; the paragraph on whose failures a scope lists). A scope
//! started inside a scope's body or task is its child: cancellation flows
//! down, failures do not flow up. Each test that spawns runs once per spawner
//! (`rule::spawn`, `rule::spawn_local`: see `common::per_spawner!`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, CancellationToken, Policy, Reason, Scope, ScopeError, TaskError,
    TaskFailure,
};
use tokio::sync::oneshot;

mod common;
use common::{guard, per_spawner, settle, Flag, Live, Res, Spawner};

// === helpers ===

/// A task that never ends by itself, holding a probe.
fn pending_task(
    live: &Live,
    cancelled: &Flag,
) -> impl FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res> + Send>>
       + Send
       + 'static {
    let (live, cancelled) = (live.clone(), cancelled.clone());
    move |token| {
        Box::pin(async move {
            let _probe = live.probe(&token, &cancelled);
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

type Slot<T> = Arc<Mutex<Option<T>>>;

fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

// === the rules that concern tasks, once per spawner ===

per_spawner!(
    scope_started_in_body_follows_parent_cancel,
    scope_started_in_task_follows_parent_cancel,
    scope_started_in_task_is_a_child,
    parent_cancel_reaches_every_descendant,
    parent_cancel_reaches_the_children_still_running_after_a_sibling_ended,
    child_started_after_parent_cancel_is_cancelled,
    parent_failure_cancels_child_with_reason_cancelled,
    child_timeout_still_reports_cancelled_when_parent_cancelled_first,
    child_failure_does_not_affect_the_parent,
    child_failure_in_a_task_does_not_affect_the_parent,
    child_error_surfaces_where_the_child_is_awaited,
    task_returning_child_error_is_an_ordinary_failure_under_cancel,
    task_returning_child_error_is_an_ordinary_failure_under_supervise,
    nested_failures_belong_to_the_nested_scope,
    child_timeout_does_not_affect_the_parent,
    sibling_scopes_are_independent,
    deep_nesting_cancels_from_the_top,
);

// === nesting: found through Scope::current() ===

#[tokio::test(start_paused = true)]
async fn scope_started_in_body_is_a_child() {
    guard(async move {
        with_scope(|outer| async move {
            let o = outer.clone();
            with_scope(|inner| async move {
                assert!(Scope::current().unwrap().same_scope(&inner));
                assert!(!inner.same_scope(&o));
                Res::Ok(())
            })
            .await?;
            assert!(
                Scope::current().unwrap().same_scope(&outer),
                "the parent is not current again after its child ended"
            );
            Res::Ok(())
        })
        .await
        .unwrap();
    })
    .await;
}

/// A cancelled parent cancels a scope nested in its body (it sees it at
/// once; reason `Cancelled`) and that scope's tasks.
async fn scope_started_in_body_follows_parent_cancel(sp: Spawner) {
    let live = Live::default();
    let l = live.clone();
    let err = with_scope(|scope| async move {
        let outer = scope.clone();
        let nested = with_scope(|inner| async move {
            sp.spawn(&inner, l.pending());
            sp.spawn_optional(&inner, l.stubborn());
            l.reaches(2).await;
            outer.cancel();
            assert!(
                inner.is_cancelled(),
                "the child did not see its parent's cancel"
            );
            Res::Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(nested.reason(), Reason::Cancelled), "{nested}");
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

/// A cancelled parent cancels a scope nested in one of its tasks (reason
/// `Cancelled`) and that scope's tasks.
async fn scope_started_in_task_follows_parent_cancel(sp: Spawner) {
    let live = Live::default();
    let nested = slot::<String>();
    let (l, n) = (live.clone(), nested.clone());
    let err = Scope::builder()
        // The grace period lets the task see its nested scope's result.
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let watch = l.clone();
            sp.spawn(&scope, move |_| async move {
                let result = with_scope(|inner| async move {
                    sp.spawn(&inner, l.pending());
                    Res::Ok(())
                })
                .await;
                *n.lock().unwrap() = Some(match result {
                    Err(e) if matches!(e.reason(), Reason::Cancelled) => "cancelled".into(),
                    other => format!("{other:?}"),
                });
                Res::Ok(())
            });
            watch.reaches(1).await;
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(nested.lock().unwrap().as_deref(), Some("cancelled"));
    assert_eq!(live.count(), 0);
    assert!(live.all_tokens_cancelled());
}

async fn scope_started_in_task_is_a_child(sp: Spawner) {
    let nested_reason = slot::<String>();
    let n = nested_reason.clone();
    let err = Scope::builder()
        .grace(Duration::from_secs(1))
        .run(|scope| async move {
            let (ready_tx, ready_rx) = oneshot::channel::<()>();
            let outer = scope.clone();
            sp.spawn(&scope, move |_| async move {
                let result = with_scope(|inner| async move {
                    assert!(Scope::current().unwrap().same_scope(&inner));
                    let _ = ready_tx.send(());
                    inner.signal().cancelled().await;
                    Res::Ok(())
                })
                .await;
                assert!(Scope::current().unwrap().same_scope(&outer));
                *n.lock().unwrap() = Some(match result {
                    Err(e) => format!("{:?}", e.reason()),
                    Ok(()) => "ok".into(),
                });
                Res::Ok(())
            });
            ready_rx.await.ok();
            scope.cancel();
            Res::Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert_eq!(nested_reason.lock().unwrap().as_deref(), Some("Cancelled"));
}

async fn parent_cancel_reaches_every_descendant(sp: Spawner) {
    let live = Live::default();
    let cancelled = [Flag::default(), Flag::default(), Flag::default()];
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let err = with_scope(|root| {
        let (live, cancelled, reasons) = (live.clone(), cancelled.clone(), reasons.clone());
        async move {
            let r = root.clone();
            let rs = reasons.clone();
            with_scope(|child| async move {
                sp.spawn(&child, pending_task(&live, &cancelled[0]));
                let grandchild = with_scope(|grandchild| async move {
                    sp.spawn(&grandchild, pending_task(&live, &cancelled[1]));
                    sp.spawn_optional(&grandchild, pending_task(&live, &cancelled[2]));
                    settle().await;
                    r.cancel();
                    Res::Ok(())
                })
                .await;
                rs.lock()
                    .unwrap()
                    .push(format!("{:?}", grandchild.unwrap_err().reason()));
                Res::Ok(())
            })
            .await
            .inspect_err(|e| reasons.lock().unwrap().push(format!("{:?}", e.reason())))?;
            Res::Ok(())
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert_eq!(*reasons.lock().unwrap(), ["Cancelled", "Cancelled"]);
    assert_eq!(live.count(), 0);
    assert!(cancelled.iter().all(Flag::get));
}

/// A nested scope that has ended leaves its parent's list of children; the
/// ones still running stay in it and are cancelled with the parent. Three
/// scopes run side by side in the body (not in tasks, which the parent's
/// cancellation would abort anyway): the middle one ends first.
async fn parent_cancel_reaches_the_children_still_running_after_a_sibling_ended(sp: Spawner) {
    let live = Live::default();
    let cancelled = [Flag::default(), Flag::default()];
    let err = with_scope(|root| {
        let (live, cancelled) = (live.clone(), cancelled.clone());
        async move {
            let waits = |flag: &Flag| {
                let (live, flag) = (live.clone(), flag.clone());
                with_scope(move |scope| async move {
                    sp.spawn(&scope, pending_task(&live, &flag));
                    Res::Ok(())
                })
            };
            let (first, middle, last) = tokio::join!(
                waits(&cancelled[0]),
                with_scope(|_| async { Res::Ok(()) }),
                async {
                    let last = waits(&cancelled[1]);
                    tokio::pin!(last);
                    // The middle scope ends while this one starts.
                    tokio::select! {
                        biased;
                        _ = &mut last => unreachable!("pending until cancelled"),
                        () = settle() => {}
                    }
                    root.cancel();
                    last.await
                },
            );
            assert!(middle.is_ok());
            assert!(matches!(first.unwrap_err().reason(), Reason::Cancelled));
            assert!(matches!(last.unwrap_err().reason(), Reason::Cancelled));
            Res::Ok(())
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert_eq!(live.count(), 0);
    assert!(cancelled.iter().all(Flag::get));
}

async fn child_started_after_parent_cancel_is_cancelled(sp: Spawner) {
    let called = Flag::default();
    let c = called.clone();
    let err = with_scope(|outer| async move {
        outer.cancel();
        let nested = with_scope(|inner| async move {
            assert!(inner.is_cancelled());
            let h = sp.spawn(&inner, move |_| {
                c.set();
                async { Res::Ok(()) }
            });
            assert!(matches!(h.await, Err(TaskError::Cancelled)));
            Res::Ok(())
        })
        .await;
        assert!(matches!(nested.unwrap_err().reason(), Reason::Cancelled));
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
    assert!(!called.get());
}

async fn parent_failure_cancels_child_with_reason_cancelled(sp: Spawner) {
    let err = with_scope(|outer| async move {
        let nested = with_scope(|inner| async move {
            sp.spawn(&outer, move |_| async move {
                Err::<(), _>("parent task failed")
            });
            inner.signal().cancelled().await;
            Res::Ok(())
        })
        .await;
        let nested = nested.unwrap_err();
        assert!(matches!(nested.reason(), Reason::Cancelled), "{nested}");
        assert!(
            nested.failures().is_empty(),
            "the parent's failure leaked into the child"
        );
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

async fn child_timeout_still_reports_cancelled_when_parent_cancelled_first(sp: Spawner) {
    let err = with_scope(|outer| async move {
        let nested = Scope::builder()
            .timeout(Duration::from_secs(1))
            .run(|inner| async move {
                outer.cancel();
                sp.spawn(&inner, |_| std::future::pending::<Res>());
                tokio::time::sleep(Duration::from_secs(2)).await;
                Res::Ok(())
            })
            .await;
        assert!(matches!(nested.unwrap_err().reason(), Reason::Cancelled));
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
}

// === child scope fails: the parent is not affected ===

async fn child_failure_does_not_affect_the_parent(sp: Spawner) {
    let (tx, rx) = oneshot::channel::<()>();
    let parent_sibling_token = slot::<CancellationToken>();
    let t = parent_sibling_token.clone();
    let value = with_scope(|outer| async move {
        let sibling = sp.spawn(&outer, move |token| async move {
            *t.lock().unwrap() = Some(token);
            rx.await.ok();
            Res::Ok("sibling done")
        });
        let nested = with_scope(|inner| async move {
            sp.spawn(&inner, |_| async { Err::<(), _>("child task failed") });
            sp.spawn_critical(&inner, |_| async { Err::<(), _>("child critical failed") });
            Res::Ok(())
        })
        .await;
        assert!(nested.is_err());
        assert!(
            !outer.is_cancelled(),
            "the child's failure cancelled its parent"
        );
        assert!(
            outer.errors().is_empty(),
            "the child's failures leaked into the parent"
        );
        tx.send(()).unwrap();
        sibling.await
    })
    .await
    .unwrap();
    assert_eq!(value, "sibling done");
    let token = parent_sibling_token.lock().unwrap().take().unwrap();
    assert!(!token.is_cancelled());
}

async fn child_failure_in_a_task_does_not_affect_the_parent(sp: Spawner) {
    with_scope(|outer| async move {
        let task = sp.spawn(&outer, move |_| async move {
            let nested = with_scope(|inner| async move {
                sp.spawn(&inner, |_| async { Err::<(), _>("deep failure") });
                Res::Ok(())
            })
            .await;
            Res::Ok(nested.is_err())
        });
        assert!(task.await?, "the child did not fail");
        assert!(!outer.is_cancelled());
        assert!(outer.errors().is_empty());
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn child_error_surfaces_where_the_child_is_awaited(sp: Spawner) {
    let child_failure = slot::<async_scope::TaskId>();
    let c = child_failure.clone();
    let c2 = child_failure.clone();
    with_scope(|_| async move {
        let err: ScopeError = Scope::builder()
            .name("child")
            .run(|inner| async move {
                let h = sp.spawn(&inner, |_| async { Err::<(), _>("child task failed") });
                *c.lock().unwrap() = Some(h.id());
                Res::Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.scope_name(), Some("child"));
        match err.reason() {
            Reason::TaskFailed(f) => assert_eq!(Some(f.task()), *c2.lock().unwrap()),
            other => panic!("unexpected {other:?}"),
        }
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn task_returning_child_error_is_an_ordinary_failure_under_cancel(sp: Spawner) {
    let err = with_scope(|outer| async move {
        sp.spawn(&outer, move |_| async move {
            with_scope(|inner| async move {
                sp.spawn(&inner, |_| async { Err::<(), _>("deep failure") });
                Res::Ok(())
            })
            .await?;
            Res::Ok(())
        });
        Res::Ok(())
    })
    .await
    .unwrap_err();
    let failure = match err.reason() {
        Reason::TaskFailed(f) => f,
        other => panic!("unexpected {other:?}"),
    };
    let TaskError::Failed(error) = failure.error() else {
        panic!("unexpected {:?}", failure.error());
    };
    let child = error
        .downcast_ref::<ScopeError>()
        .expect("the task's error is the child's ScopeError");
    assert!(
        matches!(child.reason(), Reason::TaskFailed(f) if f.error().to_string() == "deep failure")
    );
    assert_eq!(
        err.failures().len(),
        1,
        "the child's own failures leaked into the parent"
    );
}

async fn task_returning_child_error_is_an_ordinary_failure_under_supervise(sp: Spawner) {
    let handled = Arc::new(Mutex::new(Vec::<TaskFailure>::new()));
    let h = handled.clone();
    Scope::builder()
        .policy(Policy::Supervise)
        .on_error(move |f| h.lock().unwrap().push(f.clone()))
        .run(|outer| async move {
            let task = sp.spawn(&outer, move |_| async move {
                with_scope(|inner| async move {
                    sp.spawn(&inner, |_| async { Err::<(), _>("deep failure") });
                    Res::Ok(())
                })
                .await?;
                Res::Ok(())
            });
            let id = task.id();
            assert!(matches!(task.await, Err(TaskError::Failed(_))));
            let errors = outer.errors();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].task(), id);
            Res::Ok(())
        })
        .await
        .unwrap();
    // The child (policy Cancel) failed by its own task: no handler for that one;
    // the parent's task failure is supervised: the parent's handler, once.
    let handled = handled.lock().unwrap();
    assert_eq!(handled.len(), 1);
    assert!(
        matches!(handled[0].error(), TaskError::Failed(e) if e.downcast_ref::<ScopeError>().is_some())
    );
}

async fn nested_failures_belong_to_the_nested_scope(sp: Spawner) {
    let inner_scope = slot::<Scope>();
    let i = inner_scope.clone();
    let outer_errors = Scope::builder()
        .policy(Policy::Supervise)
        .run(|outer| async move {
            let _ = sp
                .spawn(&outer, move |_| async move { Err::<(), _>("outer") })
                .await;
            Scope::builder()
                .policy(Policy::Supervise)
                .run(|inner| async move {
                    *i.lock().unwrap() = Some(inner.clone());
                    let _ = sp
                        .spawn(&inner, |_| async { Err::<(), _>("inner 1") })
                        .await;
                    let _ = sp
                        .spawn_optional(&inner, |_| async { Err::<(), _>("inner 2") })
                        .await;
                    Res::Ok(())
                })
                .await?;
            Res::Ok(outer.errors())
        })
        .await
        .unwrap();
    let texts = |fs: &[TaskFailure]| fs.iter().map(|f| f.error().to_string()).collect::<Vec<_>>();
    assert_eq!(texts(&outer_errors), ["outer"]);
    let inner = inner_scope.lock().unwrap().take().unwrap();
    assert_eq!(texts(&inner.errors()), ["inner 1", "inner 2"]);
}

async fn child_timeout_does_not_affect_the_parent(sp: Spawner) {
    with_scope(|outer| async move {
        let nested = Scope::builder()
            .timeout(Duration::from_millis(10))
            .run(|inner| async move {
                sp.spawn(&inner, |_| std::future::pending::<Res>());
                Res::Ok(())
            })
            .await;
        assert!(matches!(nested.unwrap_err().reason(), Reason::TimedOut));
        assert!(!outer.is_cancelled());
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn sibling_scopes_are_independent(sp: Spawner) {
    with_scope(|outer| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let a = sp.spawn(&outer, move |_| async move {
            with_scope(|inner| async move {
                let h = sp.spawn(&inner, |_| async move {
                    rx.await.ok();
                    Res::Ok("a")
                });
                Res::Ok(h.await?)
            })
            .await
            .map_err(BoxError::from)
        });
        let b = sp.spawn(&outer, move |_| async move {
            let r = with_scope(|inner| async move {
                inner.cancel();
                Res::Ok(())
            })
            .await;
            let _ = tx.send(());
            Res::Ok(r.is_err())
        });
        assert!(b.await?);
        assert_eq!(a.await?, "a");
        Res::Ok(())
    })
    .await
    .unwrap();
}

async fn deep_nesting_cancels_from_the_top(sp: Spawner) {
    fn nest(
        sp: Spawner,
        depth: usize,
        live: Live,
        cancelled: Flag,
        ready: Arc<AtomicUsize>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Res> + Send>> {
        Box::pin(async move {
            with_scope(|scope| async move {
                sp.spawn(&scope, pending_task(&live, &cancelled));
                if depth > 0 {
                    let (l, c, r) = (live.clone(), cancelled.clone(), ready.clone());
                    sp.spawn(&scope, move |_| nest(sp, depth - 1, l, c, r));
                }
                ready.fetch_add(1, SeqCst);
                std::future::pending::<()>().await;
                Res::Ok(())
            })
            .await?;
            Ok(())
        })
    }
    let live = Live::default();
    let cancelled = Flag::default();
    let ready = Arc::new(AtomicUsize::new(0));
    let (l, c, r) = (live.clone(), cancelled.clone(), ready.clone());
    let err = with_scope(|root| async move {
        let r2 = r.clone();
        sp.spawn(&root, move |_| nest(sp, 5, l, c, r2));
        while r.load(SeqCst) < 6 {
            tokio::task::yield_now().await;
        }
        settle().await;
        root.cancel();
        Res::Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    settle().await;
    assert_eq!(live.count(), 0);
    assert!(cancelled.get());
}

/// A scope's tree abort takes its whole list of nested scopes; a nested
/// scope opened after it (by a task still running) may get the place an
/// aborted one had. When that aborted one finally leaves, it must not take
/// the newcomer out of the list (scope-core's `scope/slab.rs`).
#[tokio::test(flavor = "current_thread")]
async fn a_scope_opened_after_a_tree_abort_is_not_removed_by_the_late_leave_of_an_aborted_one() {
    use std::future::{pending, poll_fn, Future};
    use std::pin::Pin;
    use std::task::Poll;

    use async_scope::{with_scope, ScopeId};
    use futures::FutureExt;

    type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;
    /// Signals when dropped.
    struct OnDrop(Option<oneshot::Sender<()>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().send(());
        }
    }
    fn open_ids(scope: &Scope) -> Vec<ScopeId> {
        let snapshot = scope.snapshot();
        let mut ids: Vec<ScopeId> = snapshot.scopes().iter().map(|s| s.id()).collect();
        for task in snapshot.tasks() {
            ids.extend(task.scopes().iter().map(|s| s.id()));
        }
        ids
    }

    let parent_fut: Arc<Mutex<Option<BoxFut>>> = Arc::new(Mutex::new(None));
    let late: Arc<Mutex<Option<BoxFut>>> = Arc::new(Mutex::new(None));
    let parent: Arc<Mutex<Option<Scope>>> = Arc::new(Mutex::new(None));
    let (c1_open_tx, c1_open_rx) = oneshot::channel::<ScopeId>();
    let (t1_gone_tx, t1_gone_rx) = oneshot::channel::<()>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (late_tx, late_rx) = oneshot::channel::<ScopeId>();
    let fut = {
        let (parent_fut, late, parent) = (parent_fut.clone(), late.clone(), parent.clone());
        with_scope(move |p| async move {
            *parent.lock().unwrap() = Some(p.clone());
            // T1 runs C1, P's only nested scope, until it is aborted.
            p.spawn(move |_| async move {
                let _gone = OnDrop(Some(t1_gone_tx));
                let _ = with_scope(|c1| async move {
                    let _ = c1_open_tx.send(c1.id());
                    pending::<()>().await;
                    Ok::<_, std::io::Error>(())
                })
                .await;
                Ok::<_, std::io::Error>(())
            });
            // T2 drops P's own future inside its poll (the tree abort takes
            // P's list), then, still in P, opens C2, which gets C1's place.
            p.spawn(move |_| async move {
                let _ = go_rx.await;
                drop(parent_fut.lock().unwrap().take());
                let mut c2: BoxFut = Box::pin(
                    with_scope(|c2| async move {
                        let _ = late_tx.send(c2.id());
                        pending::<()>().await;
                        Ok::<_, std::io::Error>(())
                    })
                    .map(drop),
                );
                assert!(futures::poll!(c2.as_mut()).is_pending());
                *late.lock().unwrap() = Some(c2);
                Ok::<_, std::io::Error>(())
            });
            pending::<()>().await;
            Ok::<_, std::io::Error>(())
        })
        .map(drop)
    };
    *parent_fut.lock().unwrap() = Some(Box::pin(fut));
    let driver = {
        let parent_fut = parent_fut.clone();
        tokio::spawn(poll_fn(move |cx| {
            match parent_fut.lock().unwrap().as_mut() {
                Some(f) => f.as_mut().poll(cx),
                None => Poll::Ready(()),
            }
        }))
    };
    let c1 = guard(c1_open_rx).await.unwrap();
    let p = parent.lock().unwrap().clone().unwrap();
    assert_eq!(open_ids(&p), [c1]);
    go_tx.send(()).unwrap();
    let c2 = guard(late_rx).await.unwrap();
    // C1 is dropped with T1 (aborted): it leaves P with its old place.
    guard(t1_gone_rx).await.unwrap();
    assert_eq!(open_ids(&p), [c2], "C2 must still be in P's list");
    drop(late.lock().unwrap().take());
    assert!(open_ids(&p).is_empty());
    driver.abort();
}
