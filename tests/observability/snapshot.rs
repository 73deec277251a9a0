//! Snapshots (SPEC.md "Details", scope-core's `snapshot` module):
//! `Scope::snapshot()` lists live and failed tasks and nested scopes with
//! their states, names and locations, and draws them as a text tree.

use std::future::pending;
use std::io;
use std::time::Duration;

use async_scope::{
    with_scope, BoxError, Policy, Reason, Scope, ScopeState, TaskError, TaskId, TaskKind, TaskState,
};
use tokio::time::sleep;

use crate::common::{guard, guard_for, settle};
use crate::support::*;

/// The text with every column of a location in this file left out
/// (`tests/observability/snapshot.rs:12:34` → `tests/observability/snapshot.rs:12`).
fn without_columns(text: &str) -> String {
    without_columns_in(file!(), text)
}

#[test]
fn without_columns_leaves_only_file_and_line() {
    let text = format!("at {0}:12:34, and {0}:5:6)\n", file!());
    assert_eq!(
        without_columns(&text),
        format!("at {0}:12, and {0}:5)\n", file!())
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_snapshot_lists_live_and_failed_tasks_and_counts_the_rest() {
    guard(
        Scope::builder()
            .name("crawl")
            .policy(Policy::Supervise)
            .max_concurrency(2)
            .run(|scope| async move {
                let done = scope.spawn_named("done", ok);
                let flaky_line = line!() + 1;
                let flaky = scope.task().name("flaky").spawn_optional(boom);
                settle().await;
                assert!(done.is_finished() && flaky.is_finished());
                let doomed = scope.spawn_named("doomed", never);
                settle().await;
                doomed.cancel();
                assert!(matches!(doomed.await, Err(TaskError::Cancelled)));

                sleep(Duration::from_secs(1)).await;
                let worker_line = line!() + 1;
                let worker = scope.spawn(never);
                let resolve_line = line!() + 1;
                let resolve = scope.task().name("resolve").spawn_critical(|_| async {
                    Scope::builder()
                        .name("dns")
                        .run(|dns| async move {
                            dns.spawn_named("lookup", never);
                            pending::<()>().await;
                            Ok::<_, io::Error>(())
                        })
                        .await
                });
                let queued_line = line!() + 1;
                let queued = scope.spawn_named("queued", ok);
                settle().await;
                sleep(Duration::from_millis(2500)).await;

                let tree = scope.snapshot();
                assert_eq!(tree.id(), scope.id());
                assert_eq!(tree.name(), Some("crawl"));
                assert_eq!(tree.policy(), Policy::Supervise);
                assert_eq!(tree.state(), ScopeState::Running);
                assert!(tree.reason().is_none());
                assert_eq!(tree.age(), Duration::from_millis(3500));
                assert_eq!((tree.done(), tree.cancelled()), (1, 1));
                assert!(tree.scopes().is_empty(), "dns hangs under its task");

                let tasks = tree.tasks();
                let ids: Vec<TaskId> = tasks.iter().map(|t| t.id()).collect();
                assert_eq!(ids, [flaky.id(), worker.id(), resolve.id(), queued.id()]);
                let states: Vec<TaskState> = tasks.iter().map(|t| t.state()).collect();
                use TaskState::{Failed, Running, Waiting};
                assert_eq!(states, [Failed, Running, Running, Waiting]);
                let kinds: Vec<TaskKind> = tasks.iter().map(|t| t.kind()).collect();
                use TaskKind::{Critical, Normal, Optional};
                assert_eq!(kinds, [Optional, Normal, Critical, Normal]);
                let names: Vec<Option<&str>> = tasks.iter().map(|t| t.name()).collect();
                assert_eq!(names, [Some("flaky"), None, Some("resolve"), Some("queued")]);
                let ages: Vec<Option<Duration>> = tasks.iter().map(|t| t.age()).collect();
                let live = Some(Duration::from_millis(2500));
                assert_eq!(ages, [None, live, live, live]);
                let lines = [flaky_line, worker_line, resolve_line, queued_line];
                for (task, line) in tasks.iter().zip(lines) {
                    assert_eq!(task.location().file(), file!(), "{task:?}");
                    assert_eq!(task.location().line(), line, "{task:?}");
                    assert!(task.location().column() > 1, "{task:?}");
                }
                assert!(
                    matches!(tasks[0].error(), Some(TaskError::Failed(e)) if e.to_string() == "boom")
                );
                assert!(tasks[1..].iter().all(|t| t.error().is_none()));

                let dns = &tasks[2].scopes();
                assert_eq!(dns.len(), 1);
                assert_eq!(dns[0].name(), Some("dns"));
                assert_eq!(dns[0].policy(), Policy::Cancel);
                assert_eq!(dns[0].state(), ScopeState::Running);
                assert_eq!(dns[0].age(), Duration::from_millis(2500));
                assert_eq!(dns[0].tasks().len(), 1);
                assert_eq!(dns[0].tasks()[0].name(), Some("lookup"));
                assert_eq!(dns[0].tasks()[0].state(), Running);
                assert!(tasks.iter().filter(|t| t.id() != resolve.id()).all(|t| t.scopes().is_empty()));

                scope.cancel();
                Ok::<_, io::Error>(())
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nested_scopes_hang_under_the_task_that_runs_them_or_under_the_scope() {
    guard(with_scope(|root| async move {
        // root's task → scope "a" → a's task → scope "b".
        root.spawn_named("runs a", |_| {
            Scope::builder().name("a").run(|a| async move {
                a.spawn_named("runs b", |_| {
                    Scope::builder()
                        .name("b")
                        .run(|_| pending::<Result<(), io::Error>>())
                });
                // Opened by a's body: under "a" itself.
                Scope::builder()
                    .name("a's body")
                    .run(|_| pending::<Result<(), io::Error>>())
                    .await
            })
        });
        settle().await;
        // Opened by root's body: under root itself.
        Scope::builder()
            .name("root's body")
            .run(|_| async move {
                settle().await;
                let tree = root.snapshot();
                assert_eq!(tree.tasks().len(), 1);
                assert_eq!(tree.tasks()[0].name(), Some("runs a"));
                let names = |scopes: &[async_scope::ScopeSnapshot]| {
                    scopes
                        .iter()
                        .map(|s| s.name().unwrap().to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(tree.scopes()), ["root's body"]);
                let a = tree.tasks()[0].scopes();
                assert_eq!(names(a), ["a"]);
                assert_eq!(names(a[0].scopes()), ["a's body"]);
                assert_eq!(a[0].tasks().len(), 1);
                assert_eq!(a[0].tasks()[0].name(), Some("runs b"));
                assert_eq!(names(a[0].tasks()[0].scopes()), ["b"]);
                assert!(a[0].scopes()[0].tasks().is_empty());
                root.cancel();
                Ok::<_, io::Error>(())
            })
            .await
    }))
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ended_nested_scopes_are_left_out() {
    guard(Scope::builder().name("outer").run(|outer| async move {
        // Ended, with a handle kept: ok, and failed.
        let ended_ok = with_scope(|s| async move { Ok::<_, io::Error>(s) }).await?;
        let failed = slot();
        let err = with_scope(|s| {
            let failed = failed.clone();
            async move {
                put(&failed, s);
                Err::<(), _>("nope")
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::BodyFailed(_)), "{err}");
        let ended_failed = take(&failed);
        // A task that ran a nested scope to its end and goes on.
        let ran = slot();
        let runner = outer.spawn_named("runner", {
            let ran = ran.clone();
            |_| async move {
                with_scope(|s| async move {
                    put(&ran, s);
                    Ok::<_, io::Error>(())
                })
                .await?;
                pending::<()>().await;
                Ok::<_, BoxError>(())
            }
        });
        settle().await;
        sleep(Duration::from_secs(1)).await;

        let tree = outer.snapshot();
        assert!(tree.scopes().is_empty(), "{tree}");
        assert_eq!(tree.tasks().len(), 1);
        assert_eq!(tree.tasks()[0].id(), runner.id());
        assert!(tree.tasks()[0].scopes().is_empty(), "{tree}");

        // The handles of ended scopes still draw themselves.
        let ok_tree = ended_ok.snapshot();
        assert_eq!(ok_tree.state(), ScopeState::Closing);
        assert!(ok_tree.reason().is_none());
        assert_eq!(
            ok_tree.to_string(),
            format!(
                "✓ scope {} (cancel) body ended, open for 1s: no tasks\n",
                ended_ok.id()
            )
        );
        let failed_tree = ended_failed.snapshot();
        assert_eq!(failed_tree.state(), ScopeState::Cancelled);
        assert!(matches!(failed_tree.reason(), Some(Reason::BodyFailed(_))));
        assert_eq!(
            failed_tree.to_string(),
            format!(
                "⊘ scope {} (cancel) cancelled (the body failed: nope), open for 1s: no tasks\n",
                ended_failed.id()
            )
        );
        let ended_in_task = take(&ran);
        assert_eq!(ended_in_task.snapshot().state(), ScopeState::Closing);

        outer.cancel();
        Ok::<_, BoxError>(())
    }))
    .await
    .unwrap_err();
}

/// The scope keeps its tasks' records (names apart) and drops those of
/// ended tasks in batches: after many have come and gone, the live ones and a
/// late failure still carry their own names and kinds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn task_names_survive_the_pruning_of_ended_tasks_records() {
    guard(
        Scope::builder()
            .policy(Policy::Supervise)
            .on_error(|_| {})
            .run(|scope| async move {
                let mut live = Vec::new();
                for i in 0..300 {
                    if i % 100 == 50 {
                        live.push(scope.spawn_named(format!("live {i}"), never).id());
                    } else if i % 2 == 0 {
                        scope.spawn_named(format!("done {i}"), ok);
                    } else {
                        scope.spawn(ok);
                    }
                    if i % 10 == 9 {
                        settle().await;
                    }
                }
                settle().await;
                let late = scope.spawn_named("late", |_| async {
                    sleep(Duration::from_millis(5)).await;
                    Err::<(), _>("late failure")
                });
                sleep(Duration::from_millis(10)).await;
                assert!(late.await.is_err());

                let snapshot = scope.snapshot();
                let running: Vec<(TaskId, Option<&str>)> = snapshot
                    .tasks()
                    .iter()
                    .filter(|t| t.state() == TaskState::Running)
                    .map(|t| (t.id(), t.name()))
                    .collect();
                assert_eq!(
                    running,
                    [
                        (live[0], Some("live 50")),
                        (live[1], Some("live 150")),
                        (live[2], Some("live 250")),
                    ]
                );
                let errors = scope.errors();
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].name(), Some("late"));
                assert_eq!(errors[0].kind(), TaskKind::Normal);
                scope.cancel();
                Ok::<_, BoxError>(())
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancelled_scope_shows_its_state_and_reason() {
    let err = guard(
        Scope::builder()
            .name("strict")
            .grace(Duration::from_secs(5))
            .run(|scope| async move {
                let stubborn_line = line!() + 1;
                let stubborn = scope.spawn_named("stubborn", stubborn);
                let cleanup_line = line!() + 1;
                let cleanup = scope.spawn_named("cleanup", |_| {
                    Scope::builder().name("inner").run(|inner| async move {
                        inner.spawn(never);
                        // The body is not interrupted: the scope stays open.
                        sleep(Duration::from_secs(10)).await;
                        Ok::<_, io::Error>(())
                    })
                });
                settle().await;
                let bad_line = line!() + 1;
                let bad = scope.spawn_named("bad", boom);
                sleep(Duration::from_secs(1)).await;

                let tree = scope.snapshot();
                assert_eq!(tree.state(), ScopeState::Cancelled);
                let Some(Reason::TaskFailed(failure)) = tree.reason() else {
                    panic!("{tree}")
                };
                assert_eq!(failure.task(), bad.id());
                let ids: Vec<TaskId> = tree.tasks().iter().map(|t| t.id()).collect();
                assert_eq!(ids, [stubborn.id(), cleanup.id(), bad.id()]);
                let states: Vec<TaskState> = tree.tasks().iter().map(|t| t.state()).collect();
                use TaskState::{Failed, Running};
                assert_eq!(states, [Running, Running, Failed], "in their grace period");
                let inner = &tree.tasks()[1].scopes()[0];
                assert_eq!(inner.state(), ScopeState::Cancelled);
                assert!(matches!(inner.reason(), Some(Reason::Cancelled)));
                assert_eq!((inner.done(), inner.cancelled()), (0, 1));
                assert!(inner.tasks().is_empty());

                let file = file!();
                let expected = format!(
                    "⊘ scope {scope} \"strict\" (cancel) cancelled (task {bad} \"bad\" (spawned at {file}:{bad_line}) failed: boom), open for 1s: 2 live, 1 failed\n\
                     ├─ ▶ task {stubborn} \"stubborn\" running for 1s, spawned at {file}:{stubborn_line}\n\
                     ├─ ▶ task {cleanup} \"cleanup\" running for 1s, spawned at {file}:{cleanup_line}\n\
                     │  └─ ⊘ scope {inner} \"inner\" (cancel) cancelled (cancelled), open for 1s: 1 cancelled\n\
                     └─ ✗ task {bad} \"bad\" failed: boom, spawned at {file}:{bad_line}\n",
                    scope = scope.id(),
                    bad = bad.id(),
                    stubborn = stubborn.id(),
                    cleanup = cleanup.id(),
                    inner = inner.id(),
                );
                assert_eq!(without_columns(&tree.to_string()), expected);

                let _ = stubborn.await;
                Ok::<_, io::Error>(())
            }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_snapshot_draws_a_tree_and_debug_shows_the_same() {
    let lookup = slot();
    guard(
        Scope::builder()
            .name("render")
            .policy(Policy::Supervise)
            .max_concurrency(2)
            .run(|outer| {
                let lookup = lookup.clone();
                async move {
                    outer.spawn_named("done", ok);
                    let flaky_line = line!() + 1;
                    let flaky = outer.task().name("flaky").spawn_optional(boom);
                    settle().await;
                    let doomed = outer.spawn_named("doomed", never);
                    settle().await;
                    doomed.cancel();
                    let _ = doomed.await;

                    let found = lookup.clone();
                    let resolve_line = line!() + 1;
                    let resolve = outer.task().name("resolve").spawn_critical(|_| {
                        Scope::builder().name("dns").run(|dns| async move {
                            let line = line!() + 1;
                            let task = dns.spawn(never);
                            put(&found, (dns.id(), task.id(), line));
                            pending::<Result<(), io::Error>>().await
                        })
                    });
                    let worker_line = line!() + 1;
                    let worker = outer.spawn_named("worker", never);
                    let queued_line = line!() + 1;
                    let queued = outer.spawn_named("queued", ok);
                    settle().await;
                    sleep(Duration::from_secs(1)).await;

                    let audit = Scope::builder().name("audit").run(|audit| async move {
                        let audit_line = line!() + 1;
                        let audit_task = audit.spawn(never);
                        sleep(Duration::from_millis(2500)).await;

                        let text = outer.snapshot().to_string();
                        let (dns, lookup, lookup_line) = take(&lookup);
                        let file = file!();
                        let expected = format!(
                            "scope {outer} \"render\" (supervise) running for 3.5s: 3 live, 1 failed, 1 done, 1 cancelled\n\
                             ├─ ✗ optional task {flaky} \"flaky\" failed: boom, spawned at {file}:{flaky_line}\n\
                             ├─ ▶ critical task {resolve} \"resolve\" running for 3.5s, spawned at {file}:{resolve_line}\n\
                             │  └─ scope {dns} \"dns\" (cancel) running for 3.5s: 1 live\n\
                             │     └─ ▶ task {lookup} running for 3.5s, spawned at {file}:{lookup_line}\n\
                             ├─ ▶ task {worker} \"worker\" running for 3.5s, spawned at {file}:{worker_line}\n\
                             ├─ ⧗ task {queued} \"queued\" waiting for a slot for 3.5s, spawned at {file}:{queued_line}\n\
                             └─ scope {audit} \"audit\" (cancel) running for 2.5s: 1 live\n\
                             \x20  └─ ▶ task {audit_task} running for 2.5s, spawned at {file}:{audit_line}\n",
                            outer = outer.id(),
                            flaky = flaky.id(),
                            resolve = resolve.id(),
                            worker = worker.id(),
                            queued = queued.id(),
                            audit = audit.id(),
                            audit_task = audit_task.id(),
                        );
                        assert_eq!(without_columns(&text), expected, "\n{text}");
                        // Debug draws the same tree (same clock: time is paused).
                        assert_eq!(format!("{outer:?}"), text);
                        outer.cancel();
                        Ok::<_, io::Error>(())
                    });
                    let _ = audit.await;
                    Ok::<_, io::Error>(())
                }
            }),
    )
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_carries_the_name_of_its_task() {
    Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            scope.spawn_named("named", boom);
            scope.task().name("built").spawn_optional(boom);
            scope.spawn(boom);
            scope.wait_for_completion().await?;
            let names: Vec<Option<String>> = scope
                .errors()
                .iter()
                .map(|f| f.name().map(str::to_owned))
                .collect();
            assert_eq!(names, [Some("named".into()), Some("built".into()), None]);
            Ok::<_, async_scope::ScopeError>(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scope_whose_body_has_ended_is_closing_while_its_last_tasks_run() {
    let seen = slot();
    let id = Scope::builder()
        .name("closing")
        .run(|scope| {
            let seen = seen.clone();
            async move {
                scope.spawn_named("last", |_| async move {
                    sleep(Duration::from_secs(2)).await;
                    put(&seen, Scope::current().unwrap().snapshot());
                    Ok::<_, io::Error>(())
                });
                Ok::<_, io::Error>(scope.id())
            }
        })
        .await
        .unwrap();
    // Taken by the last task, 2 s after the body returned.
    let tree = take(&seen);
    assert_eq!(tree.state(), ScopeState::Closing, "{tree}");
    let first = tree.to_string().lines().next().unwrap().to_owned();
    assert_eq!(
        first,
        format!("✓ scope {id} \"closing\" (cancel) body ended, open for 2s: 1 live")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_task_is_listed_once_even_while_its_failure_is_handled() {
    let scope_slot: Slot<Scope> = slot();
    let seen = slot();
    let handler = {
        let (scope_slot, seen) = (scope_slot.clone(), seen.clone());
        move |_: &async_scope::TaskFailure| {
            let scope = scope_slot.lock().unwrap().clone().unwrap();
            put(&seen, scope.snapshot());
        }
    };
    let bad = Scope::builder()
        .policy(Policy::Supervise)
        .on_error(handler)
        .run(|scope| async move {
            put(&scope_slot, scope.clone());
            let bad = scope.spawn_named("bad", boom);
            let id = bad.id();
            let _ = bad.await;
            Ok::<_, io::Error>(id)
        })
        .await
        .unwrap();
    let tree = take(&seen);
    let listed: Vec<(TaskId, TaskState)> =
        tree.tasks().iter().map(|t| (t.id(), t.state())).collect();
    assert_eq!(listed, [(bad, TaskState::Failed)], "\n{tree}");
    assert!(
        tree.to_string()
            .lines()
            .next()
            .unwrap()
            .ends_with(": 1 failed"),
        "\n{tree}"
    );
}

/// Many tasks end at once on two workers: their ends are logged apart from
/// the scope's lock (scope-core's `records.rs`). Once `wait_for_completion`
/// returns, a snapshot must still list none of them and count every one,
/// and a task failing among them is listed once, as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_after_wait_for_completion_counts_every_end_of_many_tasks() {
    const TASKS: usize = 2_000;
    for round in 0..20 {
        guard_for(
            Duration::from_secs(60),
            Scope::builder()
                .policy(Policy::Supervise)
                .run(|scope| async move {
                    let stop = async_scope::CancellationToken::new();
                    for i in 0..TASKS {
                        match i % 3 {
                            0 => {
                                scope.spawn(|_| async { Ok::<_, io::Error>(()) });
                            }
                            1 => {
                                let stop = stop.clone();
                                scope.spawn(move |token| async move {
                                    tokio::select! {
                                        () = stop.cancelled() => Ok::<_, io::Error>(()),
                                        () = token.cancelled() => Ok(()),
                                    }
                                });
                            }
                            _ => {
                                let handle = scope.spawn(|_| pending::<Result<(), io::Error>>());
                                handle.cancel();
                            }
                        }
                    }
                    scope.spawn_named("fails", boom);
                    stop.cancel();
                    scope.wait_for_completion().await?;
                    let snapshot = scope.snapshot();
                    let states: Vec<TaskState> =
                        snapshot.tasks().iter().map(|t| t.state()).collect();
                    assert_eq!(states, [TaskState::Failed], "round {round}");
                    let cancelled = TASKS / 3;
                    assert_eq!(snapshot.cancelled(), cancelled, "round {round}");
                    assert_eq!(snapshot.done(), TASKS - cancelled, "round {round}");
                    Ok::<_, async_scope::ScopeError>(())
                }),
        )
        .await
        .unwrap();
    }
}

/// A server's shape: thousands of tasks of one scope, each running a nested
/// scope of its own. Each nested scope is drawn under the task that runs
/// it, none under the scope itself, and in the order they were opened.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_snapshot_draws_each_of_thousands_of_request_scopes_under_its_task() {
    const REQUESTS: usize = 2_000;
    guard(with_scope(|scope| async move {
        let release = async_scope::CancellationToken::new();
        let opened = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        for _ in 0..REQUESTS {
            let (release, opened) = (release.clone(), opened.clone());
            scope.spawn(move |_| {
                with_scope(move |request| async move {
                    request.spawn(move |_| async move {
                        release.cancelled().await;
                        Ok::<_, io::Error>(())
                    });
                    opened.add_permits(1);
                    Ok::<_, io::Error>(())
                })
            });
        }
        drop(opened.acquire_many(REQUESTS as u32).await.unwrap());
        let snapshot = scope.snapshot();
        assert!(
            snapshot.scopes().is_empty(),
            "every request scope has its task"
        );
        assert_eq!(snapshot.tasks().len(), REQUESTS);
        let mut last = None;
        for task in snapshot.tasks() {
            let [nested] = task.scopes() else {
                panic!("task {} runs {} scopes", task.id(), task.scopes().len());
            };
            assert!(
                last < Some(nested.id()),
                "request scopes out of opening order"
            );
            last = Some(nested.id());
        }
        release.cancel();
        Ok::<_, io::Error>(())
    }))
    .await
    .unwrap();
}

/// Nested scopes are listed in the order they were opened even when one
/// reuses the place in its parent's list that an ended one left.
#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_lists_nested_scopes_in_opening_order_after_a_slot_is_reused() {
    use std::sync::{Arc, Mutex};

    use async_scope::ScopeId;
    use tokio::sync::oneshot;

    with_scope(|scope| async move {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let open = |end: Option<oneshot::Receiver<()>>| {
            let ids = ids.clone();
            Box::pin(with_scope(move |nested| async move {
                ids.lock().unwrap().push(nested.id());
                match end {
                    Some(end) => drop(end.await),
                    None => pending::<()>().await,
                }
                Ok::<_, io::Error>(())
            }))
        };
        let (end_a, a_ends) = oneshot::channel();
        let mut a = open(Some(a_ends));
        assert!(futures::poll!(a.as_mut()).is_pending());
        let mut b = open(None);
        assert!(futures::poll!(b.as_mut()).is_pending());
        let mut c = open(None);
        assert!(futures::poll!(c.as_mut()).is_pending());
        // `a` ends: its place in the list is free, and `d` takes it.
        end_a.send(()).unwrap();
        assert!(futures::poll!(a.as_mut()).is_ready());
        let mut d = open(None);
        assert!(futures::poll!(d.as_mut()).is_pending());
        let opened = ids.lock().unwrap().clone();
        let shown: Vec<ScopeId> = scope.snapshot().scopes().iter().map(|s| s.id()).collect();
        assert_eq!(shown, opened[1..], "b, c, d in opening order");
        Ok::<_, io::Error>(())
    })
    .await
    .unwrap();
}
