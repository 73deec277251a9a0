//! `max_concurrency`: slots handed out in spawn order.
//!
//! Tokio's `Semaphore` is fair in the order tasks first *poll* `acquire`, which
//! on a multi-thread runtime is not the order they were spawned. Here `spawn`
//! itself takes a slot or joins a FIFO queue, so slots go out in spawn order,
//! and `spawn` never blocks. A task waiting in the queue has not called its
//! closure yet; when it is cancelled it never will.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::ids::TaskId;

/// The slots of one scope.
pub(crate) struct Slots {
    state: Mutex<SlotState>,
}

struct SlotState {
    /// Slots nobody holds. Invariant: `free == 0` whenever `waiters` holds a live receiver.
    free: usize,
    /// Tasks waiting for a slot, in spawn order.
    /// Each waiter's task, or `None` for a reservation (`Scope::reserve`).
    waiters: VecDeque<(Option<TaskId>, oneshot::Sender<()>)>,
}

/// One held slot, given back when dropped.
pub(crate) struct Permit {
    slots: Arc<Slots>,
}

/// Where a new task stands: it holds a slot, or waits in the queue.
pub(crate) enum Start {
    Now(Permit),
    Wait(Waiting),
}

/// A place in the queue. Dropping it before the slot arrives leaves the queue;
/// dropping it after a slot was sent passes that slot on.
pub(crate) struct Waiting {
    slots: Arc<Slots>,
    rx: Option<oneshot::Receiver<()>>,
}

impl Slots {
    pub(crate) fn new(limit: usize) -> Arc<Slots> {
        Arc::new(Slots {
            state: Mutex::new(SlotState {
                free: limit,
                waiters: VecDeque::new(),
            }),
        })
    }

    /// Takes a slot for task `id` (or for a reservation, `None`), or a
    /// place at the end of the queue.
    pub(crate) fn start(self: &Arc<Self>, id: Option<TaskId>) -> Start {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.free > 0 {
            state.free -= 1;
            Start::Now(Permit {
                slots: self.clone(),
            })
        } else {
            let (tx, rx) = oneshot::channel();
            state.waiters.push_back((id, tx));
            Start::Wait(Waiting {
                slots: self.clone(),
                rx: Some(rx),
            })
        }
    }

    /// Gives a slot to the first live waiter, or back to the pool.
    fn release(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((_, waiter)) = state.waiters.pop_front() {
            if waiter.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }

    /// The tasks still waiting for a slot, in spawn order (for snapshots).
    pub(crate) fn waiting(&self) -> Vec<TaskId> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .waiters
            .iter()
            .filter(|(_, waiter)| !waiter.is_closed())
            .filter_map(|(id, _)| *id)
            .collect()
    }
}

impl Waiting {
    /// Waits for a slot. `None` if the scope's slots are gone (cannot happen while the task lives).
    pub(crate) async fn acquired(mut self) -> Option<Permit> {
        let rx = self.rx.as_mut()?;
        let received = rx.await.is_ok();
        self.rx = None;
        received.then(|| Permit {
            slots: self.slots.clone(),
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            // Either the sender sees the closed channel and tries the next
            // waiter, or the slot was already sent and we pass it on.
            rx.close();
            if rx.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.slots.release();
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Slots")
            .field("free", &state.free)
            .field("waiting", &state.waiters.len())
            .finish()
    }
}
