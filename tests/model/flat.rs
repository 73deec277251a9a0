//! The scenario flattened ([`Flat`]): ids of scopes, tasks and handlers shared by the model and the real run.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Spawn(usize),
    CancelTask(usize),
    CancelScope,
    ShutdownScope,
    End(Outcome),
    Join,
    /// Run this nested scope inline; `true`: propagate its error.
    Inline(usize, bool),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum FBehavior {
    Finish {
        after: u64,
        outcome: Outcome,
        on_signal: Option<Outcome>,
    },
    Hang {
        on_signal: Option<Outcome>,
    },
    Nested(usize),
    Spawner {
        after: u64,
        on_signal: Option<Outcome>,
        child: usize,
    },
    Canceller {
        after: u64,
    },
    Shutdowner {
        after: u64,
    },
    TokenCanceller {
        after: u64,
    },
}

/// Who runs a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    Root,
    Task(usize),
    /// The body of this scope awaits it inline.
    Body(usize),
}

pub(crate) struct FScope {
    /// Run with `run_inline` (its body gets an `Inline` handle).
    pub(crate) runs_inline: bool,
    pub(crate) policy: Policy,
    pub(crate) timeout: Option<u64>,
    pub(crate) grace: u64,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) handler: Option<usize>,
    pub(crate) drop_at: Option<u64>,
    pub(crate) holder: Holder,
    /// The enclosing scope (of the holder task, or whose body runs it).
    pub(crate) parent: Option<usize>,
    /// Scopes whose parent this is.
    pub(crate) children: Vec<usize>,
    pub(crate) tasks: Vec<usize>,
    /// The body's timeline, in the order the body runs it.
    pub(crate) events: Vec<(u64, Ev)>,
    /// Every task of this scope and of every scope nested in it.
    pub(crate) subtree_tasks: Vec<usize>,
}

pub(crate) struct FTask {
    pub(crate) scope: usize,
    pub(crate) kind: TaskKind,
    /// An inline task: its scope runs inline and the body spawns it with `Inline::spawn*`.
    pub(crate) inline: bool,
    pub(crate) behavior: FBehavior,
    /// This scope and every enclosing one.
    pub(crate) enclosing: Vec<usize>,
}

pub(crate) struct FHandler {
    pub(crate) panics_on: Option<u32>,
}

pub(crate) struct Flat {
    pub(crate) scopes: Vec<FScope>,
    pub(crate) tasks: Vec<FTask>,
    pub(crate) handlers: Vec<FHandler>,
}

impl Flat {
    pub(crate) fn new(root: &ScopeSpec) -> Flat {
        let mut flat = Flat {
            scopes: Vec::new(),
            tasks: Vec::new(),
            handlers: Vec::new(),
        };
        flat.add_scope(root, Holder::Root, &[]);
        flat
    }

    /// Adds a task of scope `id` (and whatever it nests); returns its id.
    /// `by_body`: the body spawns it (else a `Spawner` does, through
    /// `Scope::current()`, which spawns an ordinary task).
    pub(crate) fn add_task(
        &mut self,
        id: usize,
        task: &TaskSpec,
        enclosing: &[usize],
        by_body: bool,
    ) -> usize {
        let tid = self.tasks.len();
        self.tasks.push(FTask {
            scope: id,
            kind: task.kind,
            inline: by_body && task.inline && self.scopes[id].runs_inline,
            behavior: FBehavior::Hang { on_signal: None },
            enclosing: enclosing.to_vec(),
        });
        self.scopes[id].tasks.push(tid);
        let behavior = match &task.behavior {
            Behavior::Finish {
                after,
                outcome,
                on_signal,
            } => FBehavior::Finish {
                after: *after,
                outcome: *outcome,
                on_signal: *on_signal,
            },
            Behavior::Hang { on_signal } => FBehavior::Hang {
                on_signal: *on_signal,
            },
            Behavior::Nested(nested) => {
                FBehavior::Nested(self.add_scope(nested, Holder::Task(tid), enclosing))
            }
            Behavior::Spawner {
                after,
                on_signal,
                child,
            } => FBehavior::Spawner {
                after: *after,
                on_signal: *on_signal,
                child: self.add_task(id, child, enclosing, false),
            },
            Behavior::Canceller { after } => FBehavior::Canceller { after: *after },
            Behavior::Shutdowner { after } => FBehavior::Shutdowner { after: *after },
            Behavior::TokenCanceller { after } => FBehavior::TokenCanceller { after: *after },
        };
        self.tasks[tid].behavior = behavior;
        tid
    }

    pub(crate) fn add_scope(&mut self, spec: &ScopeSpec, holder: Holder, outer: &[usize]) -> usize {
        let parent = outer.first().copied();
        let id = self.scopes.len();
        let handler = spec.handler.map(|h| {
            self.handlers.push(FHandler {
                panics_on: h.panics_on,
            });
            self.handlers.len() - 1
        });
        self.scopes.push(FScope {
            runs_inline: spec.runs_inline,
            policy: spec.policy,
            timeout: spec.timeout,
            grace: spec.grace,
            max_concurrency: spec.max_concurrency,
            handler,
            drop_at: match holder {
                Holder::Root => Some(spec.drop_at.unwrap_or(WATCHDOG)),
                _ => spec.drop_at,
            },
            holder,
            parent,
            children: Vec::new(),
            tasks: Vec::new(),
            events: Vec::new(),
            subtree_tasks: Vec::new(),
        });
        if let Some(parent) = parent {
            self.scopes[parent].children.push(id);
        }
        let mut enclosing = vec![id];
        enclosing.extend_from_slice(outer);
        // (time, class, index) orders the body's timeline.
        let mut events: Vec<((u64, u8, usize), Ev)> = Vec::new();
        for (index, task) in spec.tasks.iter().enumerate() {
            let tid = self.add_task(id, task, &enclosing, true);
            events.push(((task.spawn_at, 0, index), Ev::Spawn(tid)));
            if let Some(after) = task.cancel_after {
                events.push(((task.spawn_at + after, 1, index), Ev::CancelTask(tid)));
            }
        }
        if let Some(at) = spec.cancel_at {
            events.push(((at, 2, 0), Ev::CancelScope));
        }
        if let Some(at) = spec.shutdown_at {
            events.push(((at, 2, 2), Ev::ShutdownScope));
        }
        if let Some(inline) = &spec.inline {
            let n = self.add_scope(&inline.scope, Holder::Body(id), &enclosing);
            events.push(((inline.at, 2, 1), Ev::Inline(n, inline.propagate)));
        }
        match spec.end {
            BodyEnd::Ok(at) => events.push(((at, 3, 0), Ev::End(Outcome::Ok))),
            BodyEnd::Err(at) => events.push(((at, 3, 0), Ev::End(Outcome::Err))),
            BodyEnd::Panic(at) => events.push(((at, 3, 0), Ev::End(Outcome::Panic))),
            BodyEnd::Join => {
                let last = events.iter().map(|(k, _)| k.0).max().unwrap_or(0);
                events.push(((last, 4, 0), Ev::Join));
            }
        }
        events.sort_by_key(|(k, _)| *k);
        let end = events
            .iter()
            .position(|(_, e)| matches!(e, Ev::End(_) | Ev::Join))
            .expect("every body ends");
        events.truncate(end + 1);
        self.scopes[id].events = events.into_iter().map(|(k, e)| (k.0, e)).collect();
        let mut subtree = self.scopes[id].tasks.clone();
        for &n in &self.scopes[id].children {
            subtree.extend_from_slice(&self.scopes[n].subtree_tasks);
        }
        self.scopes[id].subtree_tasks = subtree;
        id
    }

    pub(crate) fn task_index(&self, t: usize) -> usize {
        let s = self.tasks[t].scope;
        self.scopes[s].tasks.iter().position(|&x| x == t).unwrap()
    }

    /// A readable name: `s0.t3` is task 3 of the root, `s2` the third scope
    /// in pre-order; an inline task's name ends in `i` (`s0.t3i`).
    pub(crate) fn task_name(&self, t: usize) -> String {
        let mark = if self.tasks[t].inline { "i" } else { "" };
        format!("s{}.t{}{mark}", self.tasks[t].scope, self.task_index(t))
    }
}
