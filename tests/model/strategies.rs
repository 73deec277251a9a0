//! The proptest strategies that generate scenarios.

use super::*;

pub(crate) fn arb_time() -> impl Strategy<Value = u64> {
    1u64..=1_000_000
}

pub(crate) fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Ok),
        1 => Just(Outcome::Err),
        1 => Just(Outcome::Panic),
    ]
}

pub(crate) fn arb_kind() -> impl Strategy<Value = TaskKind> {
    prop_oneof![
        4 => Just(TaskKind::Normal),
        1 => Just(TaskKind::Critical),
        1 => Just(TaskKind::Optional),
    ]
}

pub(crate) fn arb_simple_behavior() -> impl Strategy<Value = Behavior> {
    prop_oneof![
        6 => (arb_time(), arb_outcome(), proptest::option::weighted(0.4, arb_outcome()))
            .prop_map(|(after, outcome, on_signal)| Behavior::Finish { after, outcome, on_signal }),
        1 => proptest::option::weighted(0.7, arb_outcome())
            .prop_map(|on_signal| Behavior::Hang { on_signal }),
    ]
}

pub(crate) fn arb_behavior(depth: u32) -> BoxedStrategy<Behavior> {
    // Spawned by a `Spawner` through `Scope::current()`: an ordinary task.
    let child = (arb_kind(), arb_simple_behavior()).prop_map(|(kind, behavior)| TaskSpec {
        kind,
        spawn_at: 0,
        cancel_after: None,
        behavior,
        inline: false,
    });
    let leaf = prop_oneof![
        20 => arb_simple_behavior(),
        1 => (arb_time(), proptest::option::weighted(0.4, arb_outcome()), child)
            .prop_map(|(after, on_signal, child)| Behavior::Spawner {
                after,
                on_signal,
                child: Box::new(child),
            }),
        1 => arb_time().prop_map(|after| Behavior::Canceller { after }),
        1 => arb_time().prop_map(|after| Behavior::Shutdowner { after }),
        1 => arb_time().prop_map(|after| Behavior::TokenCanceller { after }),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            14 => leaf,
            1 => arb_scope(depth - 1, 16).prop_map(|s| Behavior::Nested(Box::new(s))),
        ]
        .boxed()
    }
}

pub(crate) fn arb_task(depth: u32) -> impl Strategy<Value = TaskSpec> {
    (
        arb_kind(),
        prop_oneof![4 => Just(0u64), 1 => arb_time()],
        proptest::option::weighted(0.15, prop_oneof![Just(0u64), arb_time()]),
        arb_behavior(depth),
        any::<bool>(),
    )
        .prop_map(
            |(kind, spawn_at, cancel_after, behavior, inline)| TaskSpec {
                kind,
                spawn_at,
                cancel_after,
                behavior,
                inline,
            },
        )
}

pub(crate) fn arb_scope(depth: u32, max_tasks: usize) -> BoxedStrategy<ScopeSpec> {
    let options = (
        prop_oneof![Just(Policy::Cancel), Just(Policy::Supervise)],
        proptest::option::weighted(0.3, arb_time()),
        prop_oneof![Just(0u64), arb_time()],
        proptest::option::weighted(0.25, 1usize..=4),
        proptest::option::weighted(
            0.4,
            proptest::option::weighted(0.4, 1u32..=3)
                .prop_map(|panics_on| HandlerSpec { panics_on }),
        ),
        (
            proptest::option::weighted(0.25, arb_time()),
            proptest::option::weighted(0.2, arb_time()),
        ),
        proptest::option::weighted(0.1, arb_time()),
        prop_oneof![
            3 => arb_time().prop_map(BodyEnd::Ok),
            2 => Just(BodyEnd::Join),
            1 => arb_time().prop_map(BodyEnd::Err),
            1 => arb_time().prop_map(BodyEnd::Panic),
        ],
    );
    let inline = if depth == 0 {
        Just(None).boxed()
    } else {
        proptest::option::weighted(
            0.1,
            (arb_time(), any::<bool>(), arb_scope(depth - 1, 16)).prop_map(
                |(at, propagate, scope)| InlineSpec {
                    at,
                    propagate,
                    scope: Box::new(scope),
                },
            ),
        )
        .boxed()
    };
    (
        options,
        proptest::collection::vec(arb_task(depth), 0..=max_tasks),
        inline,
        inline::arb_runs_inline(),
    )
        .prop_map(
            |(
                (
                    policy,
                    timeout,
                    grace,
                    max_concurrency,
                    handler,
                    (cancel_at, shutdown_at),
                    drop_at,
                    end,
                ),
                mut tasks,
                inline,
                runs_inline,
            )| {
                if !runs_inline {
                    // Only a scope run inline has inline tasks.
                    tasks.iter_mut().for_each(|t| t.inline = false);
                }
                ScopeSpec {
                    policy,
                    timeout,
                    grace,
                    max_concurrency,
                    handler,
                    cancel_at,
                    shutdown_at,
                    drop_at,
                    end,
                    tasks,
                    inline,
                    runs_inline,
                }
            },
        )
        .boxed()
}
