//! The comparison of what the engine did with the prediction, and model-free checks.

use super::*;

pub(crate) fn observed(ctx: &Ctx) -> (Prediction, Vec<String>) {
    let obs = ctx.obs();
    let flat = &ctx.flat;
    let mut problems = obs.violations.clone();
    let classify = |f: &TaskFailure| -> (usize, TRes) {
        let t = ctx.task_of(&obs, f);
        let r = match f.error() {
            TaskError::Failed(_) => TRes::Failed,
            TaskError::Panicked(_) => TRes::Panicked,
            TaskError::Cancelled => TRes::Cancelled,
            other => panic!("unknown task error {other:?}"),
        };
        (t, r)
    };
    let mut scopes = Vec::new();
    for (s, o) in obs.scopes.iter().enumerate() {
        let fate = match (o.started, o.fate) {
            (None, _) => Fate::NotStarted,
            (Some(_), Some(f)) => f,
            (Some(_), None) => {
                problems.push(format!("scope s{s} started but never ended"));
                Fate::NotStarted
            }
        };
        let errors: Vec<TaskFailure> = o.handle.as_ref().map(Scope::errors).unwrap_or_default();
        let list: Vec<(usize, TRes)> = errors.iter().map(classify).collect();
        for (f, &(t, r)) in errors.iter().zip(&list) {
            if r == TRes::Cancelled {
                problems.push(format!(
                    "cancellation of {} reported as a failure",
                    ctx.name(t)
                ));
            }
            if flat.tasks[t].scope != s {
                problems.push(format!("failure of {} recorded in s{s}", ctx.name(t)));
            }
            if f.kind() != flat.tasks[t].kind {
                problems.push(format!(
                    "failure of {} has kind {:?}",
                    ctx.name(t),
                    f.kind()
                ));
            }
        }
        let mut seen = list.iter().map(|x| x.0).collect::<Vec<_>>();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            problems.push(format!("s{s}: a failure recorded twice: {list:?}"));
        }
        if let Some(ef) = &o.error_failures {
            let ef: Vec<(usize, TRes)> = ef.iter().map(classify).collect();
            if ef != list {
                problems.push(format!(
                    "s{s}: ScopeError::failures() {ef:?} differs from errors() {list:?}"
                ));
            }
        }
        scopes.push((
            list,
            ScopePred {
                fate,
                failures: Vec::new(),
                join: o.join,
                shut_down: o.shut_down,
            },
        ));
    }
    let mut tasks = Vec::new();
    for (t, o) in obs.tasks.iter().enumerate() {
        if o.alive {
            problems.push(format!(
                "task {} still alive after the whole scenario",
                ctx.name(t)
            ));
        }
        let fate = match (o.id, o.start, o.end) {
            (None, _, _) => TaskFate::NotSpawned,
            // Closure never called: refused, or aborted before it started;
            // `compare` tells them apart with the handle.
            (Some(_), None, _) => TaskFate::Admitted {
                start: None,
                end: u64::MAX,
                result: TRes::Cancelled,
            },
            (Some(_), Some(start), end) => TaskFate::Admitted {
                start: Some(start),
                end: end.unwrap_or(u64::MAX),
                result: TRes::Cancelled,
            },
        };
        tasks.push((fate, o.handle));
    }
    let handlers = obs
        .handlers
        .iter()
        .map(|h| {
            let mut delivered = h.delivered.clone();
            delivered.sort_unstable();
            HandlerPred {
                delivered,
                panicked_on: h.panicked_on,
            }
        })
        .collect::<Vec<_>>();
    // Model-free: no failure reaches two handlers, none that failed its scope reaches one.
    let mut all: Vec<usize> = handlers.iter().flat_map(|h| h.delivered.clone()).collect();
    all.sort_unstable();
    if all.windows(2).any(|w| w[0] == w[1]) {
        problems.push(format!("a failure delivered to two handlers: {all:?}"));
    }
    for &t in &all {
        let s = flat.tasks[t].scope;
        let fails_scope = flat.tasks[t].kind == TaskKind::Critical
            || (flat.tasks[t].kind == TaskKind::Normal && flat.scopes[s].policy == Policy::Cancel);
        if fails_scope {
            problems.push(format!(
                "failure of {} (which fails its scope) reached a handler",
                ctx.name(t)
            ));
        }
    }
    // Shape it like a prediction; the failure groups and task details are
    // filled in by `compare`, which needs the prediction's instants.
    let pred = Prediction {
        scopes: scopes
            .into_iter()
            .map(|(list, mut p)| {
                p.failures = vec![list];
                p
            })
            .collect(),
        tasks: tasks.iter().map(|(f, _)| *f).collect(),
        handlers,
        shutdowns: 0,
        shutdowns_failed: 0,
    };
    (pred, problems)
}

/// Compares what the engine did with the prediction; returns the differences.
pub(crate) fn compare(ctx: &Ctx, want: &Prediction) -> Vec<String> {
    let (got, mut problems) = observed(ctx);
    let name = |t: usize| ctx.name(t);
    for (s, (w, g)) in want.scopes.iter().zip(&got.scopes).enumerate() {
        if w.fate != g.fate {
            problems.push(format!("s{s}: fate {:?}, model says {:?}", g.fate, w.fate));
        }
        // A dropped scope may still be reached by its parent's failure or
        // shutdown in the engine (it stays in the parent's list): compared
        // only for scopes that ended.
        if matches!(w.fate, Fate::Ended { .. }) && w.shut_down != g.shut_down {
            problems.push(format!(
                "s{s}: shut down (and not failed): {}, model says {}",
                g.shut_down, w.shut_down
            ));
        }
        if w.join != g.join {
            problems.push(format!(
                "s{s}: wait_for_completion {:?}, model says {:?}",
                g.join, w.join
            ));
        }
        // Regroup the engine's list along the model's instants.
        let list = &g.failures[0];
        let sizes: Vec<usize> = w.failures.iter().map(Vec::len).collect();
        let mut regrouped = Vec::new();
        let mut at = 0;
        for n in sizes {
            let mut group: Vec<(usize, TRes)> = list.iter().skip(at).take(n).copied().collect();
            group.sort_unstable();
            regrouped.push(group);
            at += n;
        }
        if at != list.len() || regrouped != w.failures {
            problems.push(format!(
                "s{s}: errors() {:?}, model says {:?} (grouped by instant)",
                list.iter()
                    .map(|(t, r)| format!("{}:{r:?}", name(*t)))
                    .collect::<Vec<_>>(),
                w.failures
                    .iter()
                    .map(|g| g
                        .iter()
                        .map(|(t, r)| format!("{}:{r:?}", name(*t)))
                        .collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            ));
        }
    }
    let obs = ctx.obs();
    for (t, (w, g)) in want.tasks.iter().zip(&got.tasks).enumerate() {
        let handle = obs.tasks[t].handle;
        let optional = ctx.flat.tasks[t].kind == TaskKind::Optional;
        let expect_handle = |r: TRes| {
            if optional && r != TRes::Ok {
                HRes::OptNone
            } else {
                HRes::Val(r)
            }
        };
        let scope_ended = matches!(
            want.scopes[ctx.flat.tasks[t].scope].fate,
            Fate::Ended { .. }
        );
        let check_handle = |r: TRes, problems: &mut Vec<String>| match handle {
            Some(h) if h != expect_handle(r) => problems.push(format!(
                "task {}: handle yielded {h:?}, model says {:?}",
                name(t),
                expect_handle(r)
            )),
            None if scope_ended => {
                problems.push(format!("task {}: handle never resolved", name(t)))
            }
            _ => {}
        };
        match (w, g) {
            (TaskFate::NotSpawned, TaskFate::NotSpawned) => {}
            (TaskFate::Refused, TaskFate::Admitted { start: None, .. }) => {
                check_handle(TRes::Cancelled, &mut problems)
            }
            (
                TaskFate::Admitted {
                    start: None,
                    result,
                    ..
                },
                TaskFate::Admitted { start: None, .. },
            ) => check_handle(*result, &mut problems),
            (
                TaskFate::Admitted {
                    start: Some(ws),
                    end: we,
                    result,
                },
                TaskFate::Admitted {
                    start: Some(gs),
                    end: ge,
                    ..
                },
            ) => {
                if (ws, we) != (gs, ge) {
                    problems.push(format!(
                        "task {}: ran {gs}..{ge}, model says {ws}..{we}",
                        name(t)
                    ));
                }
                check_handle(*result, &mut problems);
            }
            (w, g) => problems.push(format!("task {}: {g:?}, model says {w:?}", name(t))),
        }
    }
    for (h, (w, g)) in want.handlers.iter().zip(&got.handlers).enumerate() {
        if w != g {
            let names = |v: &[usize]| v.iter().map(|&t| name(t)).collect::<Vec<_>>();
            problems.push(format!(
                "handler {h}: delivered {:?} panicked on {:?}; model says {:?} panicked on {:?}",
                names(&g.delivered),
                g.panicked_on.map(name),
                names(&w.delivered),
                w.panicked_on.map(name)
            ));
        }
    }
    problems
}

pub(crate) fn strict_from_env() -> bool {
    std::env::var("MODEL_STRICT").is_ok_and(|v| v == "1")
}

/// Runs one named scenario and panics with the differences, if any.
pub(crate) fn assert_model(spec: &ScopeSpec) {
    let flat = Flat::new(spec);
    let want = match Model::predict(&flat) {
        Ok(p) => p,
        Err(Ambiguous(why)) => panic!("the scenario is timing-dependent: {why}"),
    };
    let ctx = run_real(flat, true);
    let problems = compare(&ctx, &want);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
