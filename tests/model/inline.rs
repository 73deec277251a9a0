//! Inline tasks in the model (SPEC.md "Inline tasks: tasks that borrow").
//!
//! A generated scope runs with `run_inline` ([`arb_runs_inline`]), and then
//! each task its body spawns is inline or spawned (`TaskSpec::inline`, drawn
//! at random). Inline tasks get every behaviour the model has (see the module
//! docs of `main.rs`); a `Spawner` still spawns its child through
//! `Scope::current()`, which makes an ordinary task, whatever the spawner.
//! Every task, when its closure is called, finds its scope in
//! `Scope::current()` and itself in its snapshot, marked inline or not
//! ([`check_entered`]).
//!
//! The reference model predicts the same fates for inline tasks as for
//! spawned ones: SPEC.md says every rule holds for them "as for spawned
//! ones", and on a current-thread runtime in virtual time nothing tells
//! "polled by the scope's run loop" from "polled by Tokio" but the order of
//! same-instant events, which the model explores, rejecting a scenario when
//! it matters. One such order is the model's own business: an inline task's
//! abort is its run loop dropping it, when that run loop next runs (at
//! once if the abort came from inside it, else after the Tokio tasks already
//! woken). So an aborted scope's inline tasks are dropped by a ready item
//! (`Ready::DropInline`), and until then they are [`stuck`](Model::stuck)
//! (never polled) and the scopes run inside them [`frozen`](Model::frozen)
//! (body, inline tasks, timers, end), while those scopes' spawned tasks go
//! on. The module docs of `main.rs` ("Inline tasks") say why this is an
//! allowance of SPEC.md and not a bug; `allowance_inline_abort_waits_for_its_run_loop`
//! shows it.
//!
//! The engine bug this found, bug M (an inline task cancelled by its handle
//! before its first poll, with no grace period, had its closure called), is
//! fixed (`Inner::guarded` no longer calls the closure of a task whose grace
//! period is over); its regression tests are below.
//!
//! Here: the runner's part ([`spawn_inline`], [`check_late_spawns`]), the
//! generator's ([`arb_runs_inline`]), the model's ([`Model::stuck`],
//! [`Model::frozen`], [`Model::drop_inline`]), a test of inline tasks that
//! borrow (the runner's are `Inline<'static>`), and the regressions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_scope::{BoxError, Inline, Scope, TaskError, TaskKind};
use proptest::prelude::*;

use super::{record_id, task_closure, AnyHandle, Ctx, Holder, Model, TRes, TState};

/// Whether a scope runs with `run_inline` (then its tasks are inline or
/// spawned, half and half).
pub(super) fn arb_runs_inline() -> impl Strategy<Value = bool> {
    proptest::bool::weighted(0.35)
}

/// Spawns task `t` of the scenario as an inline task with its kind; records its id.
pub(super) fn spawn_inline(inline: &Inline<'static>, ctx: &Arc<Ctx>, t: usize) -> AnyHandle {
    let task = task_closure(ctx.clone(), t);
    let handle = match ctx.flat.tasks[t].kind {
        TaskKind::Normal => AnyHandle::Task(inline.spawn(task)),
        TaskKind::Critical => AnyHandle::Task(inline.spawn_critical(task)),
        TaskKind::Optional => AnyHandle::Opt(inline.spawn_optional(task)),
    };
    record_id(ctx, t, &handle);
    handle
}

/// Guarantee 4 for `Inline` handles (SPEC.md: "an `Inline` handle used after
/// its scope ended: as for `Scope`"): every kind of spawn is refused, its
/// closure never called, its handle yields `Cancelled` (`None`).
pub(super) async fn check_late_spawns(ctx: &Arc<Ctx>) {
    let handles: Vec<(usize, Inline<'static>)> = ctx
        .obs()
        .scopes
        .iter()
        .enumerate()
        .filter_map(|(s, o)| o.inline.clone().map(|h| (s, h)))
        .collect();
    for (s, inline) in handles {
        let called = Arc::new(AtomicUsize::new(0));
        let closure = || {
            let c = called.clone();
            move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, BoxError>(()) }
            }
        };
        let normal = inline.spawn(closure()).await;
        let critical = inline.spawn_critical(closure()).await;
        let optional = inline.spawn_optional(closure()).await;
        let refused = matches!(normal, Err(TaskError::Cancelled))
            && matches!(critical, Err(TaskError::Cancelled))
            && optional.is_none();
        if called.load(Ordering::SeqCst) != 0 || !refused {
            let v = format!(
                "s{s}: an inline spawn after the scope ended was not refused: \
                 {normal:?} {critical:?} {optional:?}"
            );
            ctx.obs().violations.push(v);
        }
    }
}

/// Model-free, for every task when its closure is called: `Scope::current()`
/// is the task's scope, and the scope's `snapshot()` lists the task, with its
/// kind, marked inline if and only if it is an inline task (SPEC.md: "snapshots
/// (marked inline), `Scope::current()` inside it").
pub(super) fn check_entered(ctx: &Ctx, t: usize) {
    let s = ctx.flat.tasks[t].scope;
    let (scope, id) = {
        let obs = ctx.obs();
        (obs.scopes[s].handle.clone(), obs.tasks[t].id)
    };
    let current = Scope::current();
    let problem = match (&current, &scope) {
        (None, _) => Some("no Scope::current()".to_owned()),
        (Some(current), Some(scope)) if !current.same_scope(scope) => {
            Some("Scope::current() is another scope".to_owned())
        }
        (Some(current), _) => id.and_then(|id| {
            let snapshot = current.snapshot();
            match snapshot.tasks().iter().find(|task| task.id() == id) {
                None => Some("not in its scope's snapshot".to_owned()),
                Some(task)
                    if task.is_inline() != ctx.flat.tasks[t].inline
                        || task.kind() != ctx.flat.tasks[t].kind =>
                {
                    Some(format!(
                        "its snapshot says inline {} kind {:?}",
                        task.is_inline(),
                        task.kind()
                    ))
                }
                Some(_) => None,
            }
        }),
    };
    if let Some(problem) = problem {
        let v = format!(
            "task {} when its closure was called: {problem}",
            ctx.name(t)
        );
        ctx.obs().violations.push(v);
    }
}

// ============================================================================
// The reference model's part
// ============================================================================

impl Model<'_> {
    /// Whether task `t` is an inline task that will never be polled again:
    /// its scope aborted its tasks (its run loop drops it when it next runs),
    /// or its scope is [`frozen`](Self::frozen).
    pub(super) fn stuck(&self, t: usize) -> bool {
        let s = self.flat.tasks[t].scope;
        self.flat.tasks[t].inline && (self.scopes[s].aborted || self.frozen(s))
    }

    /// Whether scope `s`'s run loop is polled through a [`stuck`](Self::stuck)
    /// inline task (directly, or through bodies and inline tasks above it):
    /// its body, its inline tasks, its timers and its end wait, and it is
    /// dropped with that task at this same instant. Its spawned tasks are
    /// Tokio's and still run.
    pub(super) fn frozen(&self, s: usize) -> bool {
        match self.flat.scopes[s].holder {
            Holder::Root => false,
            Holder::Body(p) => self.frozen(p),
            Holder::Task(t) => self.stuck(t),
        }
    }

    /// The run loop of `s` drops its inline tasks, as cancelled (with them
    /// the scopes they run), unless it is frozen itself: then it is dropped
    /// with the task that polls it.
    pub(super) fn drop_inline(&mut self, s: usize) {
        if !self.alive(s) || self.frozen(s) {
            return;
        }
        for &t in &self.flat.scopes[s].tasks {
            let live = matches!(
                self.tasks[t].state,
                TState::Pending | TState::Waiting | TState::Running
            );
            if live && self.flat.tasks[t].inline {
                self.end_task(t, TRes::Cancelled);
            }
        }
    }
}

// ============================================================================
// Borrowing (the model's runner uses `Inline<'static>`)
// ============================================================================

/// Counts itself live in a borrowed counter while it exists.
struct Held<'a>(&'a AtomicUsize);

impl<'a> Held<'a> {
    fn new(live: &'a AtomicUsize) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Held(live)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Inline tasks that borrow from the caller's stack (a counter, a slice),
/// in a nested inline scope inside an inline task too, are all dropped by
/// the time each scope's future returns or is dropped, whatever ends them: a
/// failure, a handle's cancel, the grace period, the scope's future dropped.
#[test]
fn borrowing_inline_tasks_end_before_their_scope_returns() {
    use std::time::Duration;
    super::paused(async {
        let live = AtomicUsize::new(0);
        let words = ["a".to_owned(), "bb".to_owned(), "ccc".to_owned()];
        let (live, words) = (&live, &words[..]);
        let hang = |signal: async_scope::CancellationToken| async move {
            let _held = Held::new(live);
            let _ = signal; // ignored: aborted after the grace period
            std::future::pending::<()>().await;
            Ok::<usize, BoxError>(0)
        };

        // A failure cancels the scope: the hanging tasks (one in a nested
        // inline scope) are aborted after the grace period.
        let err = async_scope::Scope::builder()
            .grace(Duration::from_millis(5))
            .run_inline(|_scope, inline| async move {
                for word in words {
                    inline.spawn(move |_| async move {
                        let _held = Held::new(live);
                        tokio::time::sleep(Duration::from_millis(word.len() as u64)).await;
                        Ok::<_, BoxError>(word.len())
                    });
                }
                inline.spawn(hang);
                inline.spawn(move |_| async move {
                    async_scope::with_scope_inline(|_, nested| async move {
                        nested.spawn(hang);
                        nested.spawn(move |_| async move {
                            let _held = Held::new(live);
                            Ok::<_, BoxError>(words.len())
                        });
                        Ok::<_, BoxError>(())
                    })
                    .await
                });
                let cancelled = inline.spawn(hang);
                tokio::time::sleep(Duration::from_millis(1)).await;
                cancelled.cancel();
                inline.spawn(|_| async {
                    tokio::time::sleep(Duration::from_millis(4)).await;
                    Err::<(), _>("fails")
                });
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.reason(), async_scope::Reason::TaskFailed(_)));
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "a borrowing task outlived its scope"
        );

        // The scope's future is dropped: its inline tasks go with it, at once.
        let dropped = tokio::time::timeout(
            Duration::from_millis(3),
            async_scope::with_scope_inline(|_scope, inline| async move {
                inline.spawn(hang);
                inline.spawn_optional(hang);
                inline.spawn_critical(hang);
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert!(dropped.is_err());
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "a borrowing task outlived its dropped scope"
        );
        assert_eq!(words.len(), 3);
    });
}

// ============================================================================
// Regressions found by the model's inline tasks
// ============================================================================

/// Bug M (found by `engine_matches_model` once it spawned inline tasks):
/// an inline task whose handle cancels it before its first poll, in a scope
/// with no grace period, had its closure called (on that first poll, by the
/// run loop) and its future dropped unpolled. A spawned task cancelled the
/// same way is aborted before its closure is called (Tokio's abort), and
/// SPEC.md says every rule holds for inline tasks as for spawned ones: with
/// no grace period the task is aborted at once, so none of its code runs.
/// (`Inner::guarded` called the closure before `with_grace` looked at the
/// handle's cancellation, whose grace period was already over.)
#[test]
fn regression_inline_task_cancelled_before_its_first_poll_never_runs() {
    super::paused(async {
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let result = async_scope::with_scope_inline(|_scope, inline| async move {
            let task = inline.spawn(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, BoxError>(()) }
            });
            task.cancel();
            Ok::<_, BoxError>(task.await)
        })
        .await
        .expect("a cancelled task does not fail its scope");
        assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
        assert_eq!(
            called.load(Ordering::SeqCst),
            0,
            "the closure of an inline task cancelled before its first poll was called"
        );
    });
}

/// Bug M as `engine_matches_model` shrank it: the root (policy Cancel, no
/// grace period) runs inline; at 0 ms its body spawns an inline task (ends
/// `Ok` after 1 ms) and cancels its handle at once. The model says the task
/// is cancelled at 0 ms, its closure never called; the engine called it at 0 ms.
#[test]
fn regression_model_inline_task_cancelled_before_its_first_poll() {
    use super::{Behavior, BodyEnd, Outcome, ScopeSpec, TaskSpec};
    let task = TaskSpec {
        kind: TaskKind::Normal,
        spawn_at: 0,
        cancel_after: Some(0),
        behavior: Behavior::Finish {
            after: 1,
            outcome: Outcome::Ok,
            on_signal: None,
        },
        inline: true,
    };
    let root = ScopeSpec {
        policy: async_scope::Policy::Cancel,
        timeout: None,
        grace: 0,
        max_concurrency: None,
        handler: None,
        cancel_at: None,
        shutdown_at: None,
        drop_at: None,
        end: BodyEnd::Ok(1),
        tasks: vec![task],
        inline: None,
        runs_inline: true,
    };
    super::assert_model(&root);
}

/// Not a bug: an allowance the model grants (see the module docs). The root
/// (policy Supervise, no grace period) runs inline; its task t0 runs a nested
/// scope s1 (grace 2 ms) whose spawned task waits 84 457 ms but ends `Ok` at
/// once on its signal; t1 shuts the root down at 4 ms. The shutdown aborts
/// t0 at once, and shuts s1 down (its task is signalled). When t0 is an inline
/// task, the run loop drops it (with s1) only when it next runs, and Tokio
/// runs s1's task, which is in its grace period and ends `Ok`, first; when t0
/// is spawned, Tokio's abort of t0 comes first and s1's task is cancelled.
/// Both orders are one instant; the model explores both for the inline task
/// and so calls the scenario timing-dependent, and predicts the spawned one.
#[test]
fn allowance_inline_abort_waits_for_its_run_loop() {
    use super::{Behavior, BodyEnd, Flat, Outcome, ScopeSpec, TaskSpec};
    let scenario = |holder_inline: bool| {
        let leaf = TaskSpec {
            kind: TaskKind::Normal,
            spawn_at: 0,
            cancel_after: None,
            behavior: Behavior::Finish {
                after: 84_457,
                outcome: Outcome::Ok,
                on_signal: Some(Outcome::Ok),
            },
            inline: false,
        };
        let scope = |policy, grace, end, tasks| ScopeSpec {
            policy,
            timeout: None,
            grace,
            max_concurrency: None,
            handler: None,
            cancel_at: None,
            shutdown_at: None,
            drop_at: None,
            end: BodyEnd::Ok(end),
            tasks,
            inline: None,
            runs_inline: true,
        };
        let task = |behavior, inline| TaskSpec {
            kind: TaskKind::Normal,
            spawn_at: 0,
            cancel_after: None,
            behavior,
            inline,
        };
        let s1 = scope(async_scope::Policy::Cancel, 2, 3, vec![leaf]);
        scope(
            async_scope::Policy::Supervise,
            0,
            1,
            vec![
                task(Behavior::Nested(Box::new(s1)), holder_inline),
                task(Behavior::Shutdowner { after: 4 }, false),
            ],
        )
    };
    let inline = Flat::new(&scenario(true));
    assert!(
        Model::predict(&inline).is_err(),
        "the model should call the inline holder's case timing-dependent"
    );
    super::assert_model(&scenario(false));
}
