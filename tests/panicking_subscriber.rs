//! Bad input: a tracing subscriber (user code the engine calls) that panics
//! while the engine reports an event. Nothing may be lost or hang: the task
//! is counted out, a failure is recorded, and the subscriber's panic reaches
//! the task's handle (docs/RELIABILITY.md, bug J).
//!
//! One test in its own binary: the scenarios install thread-local
//! subscribers with `tracing::subscriber::with_default`, and tracing caches
//! each callsite's interest process-wide, so they run one after the other
//! and apart from tests that emit the same events without a subscriber.

use async_scope::{BoxError, Reason, TaskError};
use tracing_subscriber::layer::SubscriberExt;

mod common;

use common::guard;

/// A tracing layer that panics on the engine's events with this message.
struct PanicOn(&'static str);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PanicOn {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0 == self.0 {
            panic!("the subscriber broke");
        }
    }
}

/// Runs `body` on a paused current-thread runtime with a subscriber that
/// panics on events with `message`.
fn with_panicking_subscriber(message: &'static str, body: impl std::future::Future<Output = ()>) {
    common::quiet_panics("the subscriber broke");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(PanicOn(message));
    tracing::subscriber::with_default(subscriber, || runtime.block_on(body));
}

#[test]
fn a_panicking_subscriber_loses_no_failure_and_hangs_no_scope() {
    // Panics on the WARN event of a failure: reported from the task's last
    // poll. The failure is still recorded and fails the scope.
    with_panicking_subscriber("task failed", async {
        let err = guard(async_scope::with_scope(|scope| async move {
            let task = scope.spawn(|_| async { Err::<(), _>("boom") });
            let handled = task.await;
            assert!(
                matches!(&handled, Err(TaskError::Panicked(m)) if m == "the subscriber broke"),
                "{handled:?}"
            );
            assert_eq!(scope.errors().len(), 1);
            assert_eq!(scope.errors()[0].error().to_string(), "boom");
            Ok::<_, BoxError>(())
        }))
        .await
        .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::TaskFailed(f) if f.error().to_string() == "boom"),
            "{err}"
        );
        assert_eq!(err.failures().len(), 1);
    });

    // The same for an inline task, polled by its scope's run loop: the panic
    // reaches its handle, not the scope's future; the failure is recorded.
    with_panicking_subscriber("task failed", async {
        let err = guard(async_scope::with_scope_inline(|scope, inline| async move {
            let task = inline.spawn(|_| async { Err::<(), _>("boom") });
            let sibling = inline.spawn(|_| async { Ok::<_, BoxError>("unharmed") });
            let handled = task.await;
            assert!(
                matches!(&handled, Err(TaskError::Panicked(m)) if m == "the subscriber broke"),
                "{handled:?}"
            );
            assert_eq!(scope.errors().len(), 1);
            assert!(scope.errors()[0].is_inline());
            let _ = sibling.await; // done, or cancelled by the failure
            Ok::<_, BoxError>(())
        }))
        .await
        .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::TaskFailed(f) if f.error().to_string() == "boom"),
            "{err}"
        );
        assert_eq!(err.failures().len(), 1);
    });

    // Panics on the DEBUG event of a cancelled task: reported from the
    // task's drop, inside Tokio's abort. The task is still counted out.
    with_panicking_subscriber("task cancelled", async {
        let err = guard(async_scope::with_scope(|scope| async move {
            let task = scope.spawn(|_| std::future::pending::<Result<(), BoxError>>());
            tokio::task::yield_now().await;
            scope.cancel();
            let handled = task.await;
            assert!(
                matches!(&handled, Err(TaskError::Panicked(m)) if m == "the subscriber broke"),
                "{handled:?}"
            );
            Ok::<_, BoxError>(())
        }))
        .await
        .unwrap_err();
        assert!(matches!(err.reason(), Reason::Cancelled), "{err}");
        assert!(err.failures().is_empty());
    });

    // Panics on the INFO event of a scope's cancellation: reported while the
    // scope is failed by a task's failure. The scope is still cancelled (its
    // sibling sees its token) and ends; the panic reaches the failing task's
    // handle.
    with_panicking_subscriber("scope cancelled", async {
        let err = guard(async_scope::with_scope(|scope| async move {
            let sibling = scope.spawn(|signal| async move {
                signal.cancelled().await;
                Ok::<_, BoxError>("saw the cancellation")
            });
            tokio::task::yield_now().await;
            let failing = scope.spawn(|_| async { Err::<(), _>("boom") });
            let handled = failing.await;
            assert!(
                matches!(&handled, Err(TaskError::Panicked(m)) if m == "the subscriber broke"),
                "{handled:?}"
            );
            assert!(scope.is_cancelled());
            let _ = sibling.await; // aborted or done: either way it ended
            Ok::<_, BoxError>(())
        }))
        .await
        .unwrap_err();
        assert!(
            matches!(err.reason(), Reason::TaskFailed(f) if f.error().to_string() == "boom"),
            "{err}"
        );
    });
}
