//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow", row "`Send`", and
//! "No failure is lost, and no handler sees one twice"): the scope's future
//! is `Send` and runs inside `tokio::spawn` on a multi_thread runtime, with
//! inline tasks, spawned tasks and an `Inline` handle used from other
//! threads; and a stress test: thousands of inline tasks mixed with spawned
//! ones, with seeded (deterministic) failures, panics and cancellations,
//! under both policies and on both runtimes. Every task's future is dropped
//! by the end and every failure is reported exactly once.
//!
//! Tasks wait by yielding, not by sleeping: nothing depends on a real clock.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_scope::{
    with_scope_inline, CancellationToken, Inline, OptionalHandle, Policy, Reason, Scope, TaskError,
    TaskFailure, TaskHandle, TaskId, TaskKind,
};

mod common;
use common::{collecting, guard, guard_for, quiet_panics, Live, Res, Seen, Task, ON_PURPOSE};

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_future_is_send_and_runs_inside_tokio_spawn() {
    let total = guard_for(
        Duration::from_secs(60),
        tokio::spawn(async {
            let local = vec![5u32; 100];
            let local = &local;
            let scope = with_scope_inline(|scope, inline: Inline<'_>| async move {
                let handles: Vec<_> = local
                    .iter()
                    .map(|x| inline.spawn(move |_| async move { Res::Ok(*x) }))
                    .collect();
                // Inline handles awaited on other threads, by spawned tasks.
                let mut via_spawned = Vec::new();
                for handle in handles {
                    via_spawned.push(scope.spawn(|_| async move { Res::Ok(handle.await? + 1) }));
                }
                let mut total = 0;
                for handle in via_spawned {
                    total += handle.await?;
                }
                Res::Ok(total)
            });
            assert_send(scope).await
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(total, 600);
}

/// An `Inline<'static>` clone moved into spawned tasks spawns inline tasks
/// from other threads: each spawn wakes the run loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_handle_spawns_from_other_threads() {
    let live = Live::default();
    let l = live.clone();
    let sum = guard_for(
        Duration::from_secs(60),
        tokio::spawn(with_scope_inline(
            move |scope, inline: Inline<'static>| async move {
                let mut outer = Vec::new();
                for i in 0..50u64 {
                    let (inline, live) = (inline.clone(), l.clone());
                    outer.push(scope.spawn(move |_| async move {
                        let inner = inline.spawn(move |token| async move {
                            let _probe = live.watch(&token);
                            tokio::task::yield_now().await;
                            Res::Ok(i)
                        });
                        Res::Ok(inner.await?)
                    }));
                }
                let mut sum = 0;
                for handle in outer {
                    sum += handle.await?;
                }
                Res::Ok(sum)
            },
        )),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(sum, (0..50).sum::<u64>());
    assert_eq!(live.count(), 0);
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

/// What a stress task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Ok,
    Err,
    Panic,
    /// Waits for its token (ended by the scope's end or failure).
    Pending,
    /// Waits for its token; the body cancels its handle.
    Victim,
    /// Cancels its own token, then ends `Ok`.
    SelfCancel,
}

fn plan(rng: &mut Rng) -> Plan {
    match rng.below(100) {
        0..=49 => Plan::Ok,
        50..=59 => Plan::Err,
        60..=64 => Plan::Panic,
        65..=79 => Plan::Pending,
        80..=89 => Plan::Victim,
        _ => Plan::SelfCancel,
    }
}

fn task(plan: Plan, yields: u64, live: &Live) -> impl FnOnce(CancellationToken) -> Task<u64> {
    let live = live.clone();
    move |token| {
        Box::pin(async move {
            let _probe = live.hold();
            if plan == Plan::SelfCancel {
                token.cancel();
            }
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            match plan {
                Plan::Ok | Plan::SelfCancel => Ok(yields),
                Plan::Err => Err("planned".into()),
                Plan::Panic => panic!("{ON_PURPOSE}planned"),
                Plan::Pending | Plan::Victim => {
                    token.cancelled().await;
                    std::future::pending().await
                }
            }
        })
    }
}

enum Handle {
    Normal(TaskHandle<u64>),
    Optional(OptionalHandle<u64>),
}

/// How a stress task ended: `Ok(Some(v))`, `Ok(None)` (an optional that
/// yielded `None`) or the error of a Normal task.
type Outcome = Result<Option<u64>, TaskError>;

impl Handle {
    fn id(&self) -> TaskId {
        match self {
            Handle::Normal(h) => h.id(),
            Handle::Optional(h) => h.id(),
        }
    }

    fn cancel(&self) {
        match self {
            Handle::Normal(h) => h.cancel(),
            Handle::Optional(h) => h.cancel(),
        }
    }

    async fn outcome(self) -> Outcome {
        match self {
            Handle::Normal(h) => h.await.map(Some),
            Handle::Optional(h) => Ok(h.await),
        }
    }
}

/// What one stress run leaves to check.
#[derive(Default)]
struct Record {
    plans: HashMap<TaskId, (Plan, TaskKind)>,
    outcomes: Vec<(TaskId, Outcome)>,
    scope: Option<Scope>,
}

/// Runs `n` tasks (70% inline) with plans drawn from `seed` in one scope.
async fn stress(policy: Policy, seed: u64, n: usize) {
    quiet_panics(ON_PURPOSE);
    let live = &Live::default();
    let seen = Seen::default();
    let record = &Mutex::new(Record::default());
    let out = Scope::builder()
        .policy(policy)
        .on_error(collecting(&seen))
        .run_inline(|scope, inline| async move {
            record.lock().unwrap().scope = Some(scope.clone());
            let mut rng = Rng(seed);
            let (mut finite, mut victims, mut pending) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..n {
                let plan = plan(&mut rng);
                let optional = rng.below(5) == 0;
                let on_inline = rng.below(10) < 7;
                let task = task(plan, rng.below(8), live);
                let handle = match (optional, on_inline) {
                    (false, true) => Handle::Normal(inline.spawn(task)),
                    (false, false) => Handle::Normal(scope.spawn(task)),
                    (true, true) => Handle::Optional(inline.spawn_optional(task)),
                    (true, false) => Handle::Optional(scope.spawn_optional(task)),
                };
                let kind = if optional {
                    TaskKind::Optional
                } else {
                    TaskKind::Normal
                };
                record
                    .lock()
                    .unwrap()
                    .plans
                    .insert(handle.id(), (plan, kind));
                match plan {
                    Plan::Pending => pending.push(handle),
                    Plan::Victim => victims.push(handle),
                    _ => finite.push(handle),
                }
                if i % 64 == 63 {
                    tokio::task::yield_now().await;
                }
            }
            for victim in &victims {
                victim.cancel();
            }
            for handle in finite.into_iter().chain(victims) {
                let id = handle.id();
                let outcome = handle.outcome().await;
                record.lock().unwrap().outcomes.push((id, outcome));
            }
            scope.shutdown();
            for handle in pending {
                let id = handle.id();
                let outcome = handle.outcome().await;
                record.lock().unwrap().outcomes.push((id, outcome));
            }
            Res::Ok(())
        })
        .await;
    let context = format!("{policy:?}, seed {seed}");
    assert_eq!(
        live.count(),
        0,
        "a task's future outlived its scope ({context})"
    );
    let record = record.lock().unwrap();
    let scope = record.scope.as_ref().unwrap();
    let failures = match (&out, policy) {
        (Ok(()), Policy::Supervise) => scope.errors(),
        (Err(err), Policy::Cancel) => err.failures().to_vec(),
        _ => panic!("{context}: {out:?}"),
    };
    assert_eq!(record.outcomes.len(), n);
    assert_eq!(failures.len(), scope.failure_count(), "{context}");
    let handled = seen.lock().unwrap().clone();
    let unique = |fs: &[TaskFailure]| {
        let ids: HashSet<_> = fs.iter().map(TaskFailure::task).collect();
        assert_eq!(ids.len(), fs.len(), "a failure listed twice ({context})");
        ids
    };
    let (listed, handled_ids) = (unique(&failures), unique(&handled));
    for failure in &failures {
        let (plan, kind) = record.plans[&failure.task()];
        assert!(
            matches!(plan, Plan::Err | Plan::Panic),
            "{context}: {plan:?} failed"
        );
        assert_eq!(failure.kind(), kind);
        let handled = handled_ids.contains(&failure.task());
        // Under Cancel, Normal failures fail the scope (or come after): no handler.
        let expected = policy == Policy::Supervise || kind == TaskKind::Optional;
        assert_eq!(handled, expected, "{context}: {failure}");
    }
    assert!(handled_ids.is_subset(&listed), "{context}");
    for (id, outcome) in &record.outcomes {
        let (plan, _) = record.plans[id];
        if let Err(TaskError::Failed(_) | TaskError::Panicked(_)) = outcome {
            assert!(listed.contains(id), "{context}: a failure not listed");
        }
        if policy == Policy::Supervise {
            match plan {
                Plan::Ok | Plan::SelfCancel => assert!(matches!(outcome, Ok(Some(_)))),
                Plan::Err | Plan::Panic => assert!(!matches!(outcome, Ok(Some(_)))),
                Plan::Pending | Plan::Victim => {
                    assert!(matches!(outcome, Ok(None) | Err(TaskError::Cancelled)))
                }
            }
        }
    }
    if policy == Policy::Supervise {
        let planned = record
            .plans
            .iter()
            .filter(|(_, (p, _))| matches!(p, Plan::Err | Plan::Panic));
        assert_eq!(listed.len(), planned.count(), "{context}: a failure lost");
    } else {
        let first_normal = failures
            .iter()
            .find(|f| f.kind() == TaskKind::Normal)
            .unwrap();
        let Err(err) = &out else { unreachable!() };
        match err.reason() {
            Reason::TaskFailed(first) => assert_eq!(first.task(), first_normal.task()),
            other => panic!("{context}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stress_current_thread() {
    for seed in 1..=3 {
        for policy in [Policy::Cancel, Policy::Supervise] {
            guard(stress(policy, seed, 3000)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_multi_thread_inside_tokio_spawn() {
    for seed in 11..=13 {
        for policy in [Policy::Cancel, Policy::Supervise] {
            guard_for(
                Duration::from_secs(120),
                tokio::spawn(stress(policy, seed, 3000)),
            )
            .await
            .unwrap();
        }
    }
}
