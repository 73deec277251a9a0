//! Nesting: a scope opened while another is [`Scope::current`](super::Scope::current)
//! is its child.
//!
//! - `adopt`: the parent keeps a weak link to the child (`State::children`),
//!   so that its cancellation reaches the child at once (`cancel.rs`); a child
//!   opened under a parent already cancelled starts cancelled.
//! - `leave_parent`: an ended child leaves that list, so its memory goes back
//!   with its last handle and a parent's cancellation has nothing left to
//!   walk in it.
//! - `hold_parent`: a child whose future was dropped while its aborted tasks
//!   are still being dropped by Tokio counts as one live task of its parent
//!   until they are gone (the lease is given back by `Inner::count_out`).
//!
//! Error handlers fall back to the parent's (`failure.rs`); failures never
//! flow up.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::cancel::Stop;
use super::inner::Inner;
use crate::error::Reason;

impl Inner {
    /// Keeps a weak link to a nested scope.
    ///
    /// Returns how the nested scope must start stopped if this scope was
    /// already: cancelled (or failed, or aborted), or shut down. Checked
    /// under the lock `stop` and `abort_tree` take the list
    /// under, so a nested scope is either in the list they walk or sees the
    /// stop here.
    pub(super) fn adopt(&self, child: &Arc<Inner>) -> Option<Stop> {
        let mut state = self.lock();
        let slot = state.children.insert(Arc::downgrade(child));
        child.slot_in_parent.store(slot, Ordering::Relaxed);
        if state.reason.is_some() || state.tree_aborted {
            Some(Stop::Fail(Reason::Cancelled))
        } else if state.shut_down {
            Some(Stop::Shutdown)
        } else if self.aborted.load(Ordering::Relaxed) || self.cancelled_by_hand() {
            // Cancelled by hand, not noticed yet.
            Some(Stop::Fail(Reason::Cancelled))
        } else {
            None
        }
    }

    /// Takes an ended scope out of its parent's `children`.
    pub(super) fn leave_parent(&self) {
        let Some(parent) = &self.parent else {
            return;
        };
        let me: *const Inner = self;
        let mut state = parent.lock();
        // Its slot, unless the parent's list was taken since (`abort_one`)
        // and the slot given to another: then it removes nothing.
        let slot = self.slot_in_parent.load(Ordering::Relaxed);
        state.children.remove_if(slot, |c| c.as_ptr() == me);
    }

    /// Takes a lease on the parent while this scope still has live tasks
    /// (or leases of its own), once.
    pub(super) fn hold_parent(&self) {
        let Some(parent) = &self.parent else {
            return;
        };
        let mut state = self.lock();
        if self.live.load(Ordering::Acquire) > 0 && !state.holds_parent {
            state.holds_parent = true;
            // Lock order: a nested scope's state, then its parent's.
            let _parent = parent.lock();
            parent.live.fetch_add(1, Ordering::Relaxed);
        }
    }
}
