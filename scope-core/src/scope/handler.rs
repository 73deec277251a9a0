//! An error handler (`ScopeBuilder::on_error`) and whether it is still in
//! service. Which handler a failure goes to is decided in `failure.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::TaskFailure;

type HandlerFn = dyn Fn(&TaskFailure) + Send + Sync + 'static;

/// An error handler and whether it is still in service.
pub(super) struct Handler {
    f: Box<HandlerFn>,
    /// Set when the handler panicked: it is skipped from then on.
    removed: AtomicBool,
}

impl Handler {
    pub(super) fn new(f: impl Fn(&TaskFailure) + Send + Sync + 'static) -> Handler {
        Handler {
            f: Box::new(f),
            removed: AtomicBool::new(false),
        }
    }

    /// Whether the handler has not panicked yet.
    pub(super) fn in_service(&self) -> bool {
        !self.removed.load(Ordering::Acquire)
    }

    /// Calls the handler; `false` if it panicked, which removes it.
    pub(super) fn call(&self, failure: &TaskFailure) -> bool {
        let called = catch_unwind(AssertUnwindSafe(|| (self.f)(failure))).is_ok();
        if !called {
            self.removed.store(true, Ordering::Release);
        }
        called
    }
}
