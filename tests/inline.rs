//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow"): tasks that
//! borrow from outside the scope's call, run by the scope's run loop. This
//! file covers borrowing, task handles, `Scope::current()` inside inline
//! tasks, nesting (a scope opened inside an inline task is a child; inline
//! tasks spawning inline tasks; a nested `run_inline`), and snapshots.
//! Failures: `inline_failures.rs`; cancellation, limits and drops:
//! `inline_cancel.rs`; `Send` and the stress test: `inline_stress.rs`.
//!
//! Time is paused on a current_thread runtime, so the order of events is exact.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

use async_scope::{
    with_scope, with_scope_inline, Inline, Policy, Reason, Scope, TaskError, TaskKind, TaskState,
};
use tokio::time::sleep;

mod common;
use common::{guard, settle, task_failed, Flag, Live, Res};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What an inline task borrows: a reference parameter, as a caller has it.
async fn total_len(urls: &[String]) -> Res<usize> {
    let total = with_scope_inline(|_scope, inline| async move {
        let mut handles = Vec::new();
        for url in urls {
            // `url: &String`, borrowed from the caller: no clone, no `Arc`.
            handles.push(inline.spawn(move |_| async move {
                sleep(ms(url.len() as u64)).await;
                Res::Ok(url.len())
            }));
        }
        let mut total = 0;
        for handle in handles {
            total += handle.await?;
        }
        Res::Ok(total)
    })
    .await?;
    Ok(total)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inline_tasks_borrow_from_outside_the_call() {
    let urls = vec!["a".to_string(), "bb".to_string(), "ccc".to_string()];
    assert_eq!(guard(total_len(&urls)).await.unwrap(), 6);
    assert_eq!(guard(total_len(&urls[1..])).await.unwrap(), 5);

    // A `&` binding: a Vec, a map and a `Mutex` (shared, not `&mut`) borrowed together.
    let words = &vec!["structured", "concurrency", "borrows"];
    let lengths: &HashMap<&str, usize> = &words.iter().map(|w| (*w, w.len())).collect();
    let seen = &Mutex::new(Vec::new());
    let out = guard(with_scope_inline(|_scope, inline| async move {
        for word in words {
            inline.spawn(move |_| async move {
                sleep(ms(lengths[word] as u64)).await; // shortest first
                seen.lock().unwrap().push(*word);
                Res::Ok(())
            });
        }
        let longest = inline.spawn(|_| async { Res::Ok(words.iter().max_by_key(|w| lengths[*w])) });
        Res::Ok(longest.await?.copied())
    }))
    .await
    .unwrap();
    assert_eq!(out, Some("concurrency"));
    assert_eq!(
        *seen.lock().unwrap(),
        ["borrows", "structured", "concurrency"]
    );
    assert_eq!(words.len(), 3, "still usable after the scope");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inline_handles_follow_the_rules_of_task_handles() {
    let done = &Flag::default();
    let late = guard(with_scope_inline(|scope, inline| async move {
        // Dropping a handle does not cancel its task.
        drop(inline.spawn(move |_| async move {
            sleep(ms(20)).await;
            done.set();
            Res::Ok(())
        }));
        // A handle awaited by a spawned task and by another inline task.
        let a = inline.spawn(|_| async {
            sleep(ms(5)).await;
            Res::Ok(1)
        });
        let b = inline.spawn(|_| async {
            sleep(ms(5)).await;
            Res::Ok(2)
        });
        let via_spawned = scope.spawn(|_| async move { Res::Ok(a.await? * 10) });
        let via_inline = inline.spawn(|_| async move { Res::Ok(b.await? * 10) });
        assert_eq!(via_spawned.await? + via_inline.await?, 30);
        let finished = inline.spawn(|_| async { Res::Ok("late") });
        settle().await;
        assert!(finished.is_finished());
        assert!(!done.get());
        Res::Ok(finished)
    }))
    .await
    .unwrap();
    assert!(
        done.get(),
        "the scope waited for the task whose handle was dropped"
    );
    // Awaited after its scope ended: the value is still there.
    assert_eq!(late.await.unwrap(), "late");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panic_in_the_task_closure_is_a_panicked_failure() {
    common::quiet_panics(common::ON_PURPOSE);
    let err = guard(with_scope_inline(|_scope, inline| async move {
        let handle = inline
            .spawn(|_| -> std::future::Ready<Res> { panic!("{}closure", common::ON_PURPOSE) });
        let error = handle.await.unwrap_err();
        assert!(
            matches!(&error, TaskError::Panicked(m) if m.ends_with("closure")),
            "{error:?}"
        );
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(task_failed(&err).is_inline());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn scope_current_inside_an_inline_task_is_its_scope() {
    guard(with_scope_inline(|scope, inline| async move {
        let s = scope.clone();
        let outer = inline.spawn(move |_| async move {
            assert!(Scope::current().unwrap().same_scope(&s));
            sleep(ms(1)).await;
            assert!(Scope::current().unwrap().same_scope(&s), "after an await");
            // In a nested inline scope's task, the nested scope is current.
            with_scope_inline(|nested, inline| async move {
                let n = nested.clone();
                inline
                    .spawn(move |_| async move {
                        let current = Scope::current().unwrap();
                        Res::Ok(current.same_scope(&n) && !current.same_scope(&s))
                    })
                    .await
            })
            .await
        });
        assert!(outer.await?);
        assert!(
            Scope::current().unwrap().same_scope(&scope),
            "the body's scope is back"
        );
        assert!(inline.scope().same_scope(&scope));
        Res::Ok(())
    }))
    .await
    .unwrap();
}

/// A `with_scope` opened inside an inline task is a child: its parent's
/// cancel reaches it; its failure does not reach the parent.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scope_opened_in_an_inline_task_is_a_child() {
    let live = &Live::default();
    let err = guard(with_scope_inline(|scope, inline| async move {
        let failed_child = inline.spawn(|_| async {
            let err = with_scope(|child| async move {
                child.spawn(|_| async { Err::<(), _>("child task") });
                Res::Ok(())
            })
            .await
            .unwrap_err();
            Res::Ok(task_failed(&err).error().to_string())
        });
        assert_eq!(failed_child.await?, "child task");
        assert!(!scope.is_cancelled() && scope.errors().is_empty());

        let cancelled_child = inline.spawn(move |_| async move {
            let err = with_scope(|child| async move {
                child.spawn(live.pending());
                child.spawn(live.stubborn());
                std::future::pending::<Res>().await
            });
            Res::Ok(err.await.unwrap_err())
        });
        while live.count() < 2 {
            tokio::task::yield_now().await;
        }
        scope.cancel();
        // The inline task is dropped at once (zero grace), its child with it.
        assert!(matches!(cancelled_child.await, Err(TaskError::Cancelled)));
        Res::Ok(())
    }))
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::Cancelled));
    assert_eq!(live.count(), 0);
    assert!(
        live.all_tokens_cancelled(),
        "the child's tasks saw the cancel"
    );
}

/// With a grace period the inline task sees its child end `Cancelled`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_parent_cancel_reaches_a_child_of_an_inline_task() {
    let out = guard(
        Scope::builder()
            .grace(ms(100))
            .run_inline(|scope, inline| async move {
                let child = inline.spawn(|_| async {
                    let err = Scope::builder()
                        .run_inline(|_child, inline| async move {
                            inline.spawn(|token| async move {
                                token.cancelled().await;
                                Res::Ok(())
                            });
                            Res::Ok(())
                        })
                        .await
                        .unwrap_err();
                    Res::Ok(matches!(err.reason(), Reason::Cancelled))
                });
                sleep(ms(1)).await;
                scope.cancel();
                assert!(
                    child.await?,
                    "the child ended Cancelled, within the grace period"
                );
                Res::Ok(())
            }),
    )
    .await;
    assert!(matches!(out.unwrap_err().reason(), Reason::Cancelled));
}

/// Inline tasks spawn further inline tasks through a clone of the handle,
/// also after the body has returned, to a depth beyond one turn of the run loop.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inline_tasks_spawn_inline_tasks() {
    fn tree<'env>(inline: Inline<'env>, depth: u32, data: &'env [u64], sum: &'env AtomicUsize) {
        let clone = inline.clone();
        inline.spawn(move |_| async move {
            tokio::task::yield_now().await;
            sum.fetch_add(data[depth as usize % data.len()] as usize, SeqCst);
            if depth > 0 {
                tree(clone.clone(), depth - 1, data, sum);
                tree(clone, depth - 1, data, sum);
            }
            Res::Ok(())
        });
    }
    let data = &[1u64, 2, 3];
    let sum = &AtomicUsize::new(0);
    let tasks = guard(with_scope_inline(|scope, inline| async move {
        tree(inline, 9, data, sum);
        Res::Ok(scope)
    }))
    .await
    .unwrap();
    assert!(tasks.errors().is_empty());
    let expected: u64 = (0..=9u32)
        .map(|d| (1u64 << (9 - d)) * data[d as usize % 3])
        .sum();
    assert_eq!(sum.load(SeqCst) as u64, expected, "all 1023 tasks ran");

    // A chain, one spawn per task, each link after the previous one ended.
    let links = &AtomicUsize::new(0);
    fn chain<'env>(inline: Inline<'env>, left: usize, links: &'env AtomicUsize) {
        let next = inline.clone();
        inline.spawn(move |_| async move {
            links.fetch_add(1, SeqCst);
            if left > 0 {
                chain(next, left - 1, links);
            }
            Res::Ok(())
        });
    }
    guard(with_scope_inline(|_scope, inline| async move {
        chain(inline, 99, links);
        Res::Ok(())
    }))
    .await
    .unwrap();
    assert_eq!(links.load(SeqCst), 100);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_nested_run_inline_inside_an_inline_task_borrows_too() {
    let rows = &[vec![1, 2, 3], vec![4, 5], vec![6]];
    let total = guard(with_scope_inline(|_scope, inline| async move {
        let sums: Vec<_> = rows
            .iter()
            .map(|row| {
                inline.spawn(move |_| async move {
                    Scope::builder()
                        .policy(Policy::Supervise)
                        .run_inline(|_nested, inline| async move {
                            let cells: Vec<_> = row
                                .iter()
                                .map(|cell| inline.spawn(move |_| async move { Res::Ok(*cell) }))
                                .collect();
                            let mut sum = 0;
                            for cell in cells {
                                sum += cell.await?;
                            }
                            Res::Ok(sum)
                        })
                        .await
                })
            })
            .collect();
        let mut total = 0;
        for sum in sums {
            total += sum.await?;
        }
        Res::Ok(total)
    }))
    .await
    .unwrap();
    assert_eq!(total, 21);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn snapshots_mark_inline_tasks() {
    let out = guard(Scope::builder().policy(Policy::Supervise).run_inline(
        |scope, inline| async move {
            let running = inline.spawn(|token| async move {
                token.cancelled().await;
                Res::Ok(())
            });
            inline.spawn_critical(|_| async { Res::Ok(()) }).await?;
            let failed = inline.spawn_optional(|_| async { Err::<(), _>("marked") });
            let spawned = scope.spawn(|token| async move {
                token.cancelled().await;
                Res::Ok(())
            });
            let failed_id = failed.id();
            assert_eq!(failed.await, None);
            let snapshot = scope.snapshot();
            let task = |id| snapshot.tasks().iter().find(|t| t.id() == id).unwrap();
            let (running_task, spawned_task) = (task(running.id()), task(spawned.id()));
            assert!(running_task.is_inline() && running_task.state() == TaskState::Running);
            assert!(!spawned_task.is_inline());
            let failed_task = task(failed_id);
            assert!(failed_task.is_inline() && failed_task.state() == TaskState::Failed);
            assert_eq!(failed_task.kind(), TaskKind::Optional);
            assert_eq!(snapshot.done(), 1);
            let drawn = snapshot.to_string();
            assert_eq!(drawn.matches("inline task").count(), 2, "{drawn}");
            scope.shutdown();
            Res::Ok(())
        },
    ))
    .await;
    out.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_scope_opened_in_an_inline_task_is_drawn_under_it() {
    with_scope_inline(|scope, inline| async move {
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        inline.spawn(|_| async move {
            with_scope(|_| async move {
                opened_tx.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(())
            })
            .await
        });
        opened_rx.await.unwrap();
        let snapshot = scope.snapshot();
        assert_eq!(snapshot.tasks().len(), 1, "{snapshot}");
        assert!(snapshot.tasks()[0].is_inline());
        assert_eq!(snapshot.tasks()[0].scopes().len(), 1, "{snapshot}");
        assert!(snapshot.scopes().is_empty(), "{snapshot}");
        scope.cancel();
        Ok::<_, std::io::Error>(())
    })
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_reaches_a_scope_opened_in_an_inline_task_and_both_end_ok() {
    guard(async {
        let nested_result = Mutex::new(None);
        let nested_result = &nested_result;
        // A grace period lets the inline task that holds the nested scope
        // see it end; without one, the shutdown drops that task at once.
        Scope::builder()
            .grace(ms(100))
            .run_inline(|scope, inline| async move {
                let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
                inline.spawn(move |_| async move {
                    let result = with_scope(|nested| async move {
                        nested.spawn(|signal| async move {
                            signal.cancelled().await;
                            Res::Ok(())
                        });
                        opened_tx.send(()).unwrap();
                        nested.cancelled().await;
                        Res::Ok("drained")
                    })
                    .await;
                    *nested_result.lock().unwrap() = Some(result.map_err(|e| e.to_string()));
                    Res::Ok(())
                });
                opened_rx.await.unwrap();
                scope.shutdown();
                Res::Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            nested_result.lock().unwrap().take(),
            Some(Ok("drained")),
            "the nested scope is shut down too, and ends Ok"
        );
    })
    .await;
}
