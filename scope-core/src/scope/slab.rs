//! A list whose entries are removed by the slot they were given, in constant
//! time, whatever the order: a scope's open nested scopes (`nest.rs`), which
//! end in any order (a server's request scopes), and whose removal from a
//! `Vec` by search cost a scan and a shift of the open siblings each, under
//! the parent's lock.
//!
//! Slots are reused: whoever removes by slot says what it expects there
//! (`remove_if`), so a stale slot (its entry taken by `take_all` and the slot
//! given to another) removes nothing.

/// How many slots an emptied list keeps allocated.
const KEEP: usize = 64;

/// Entries by slot, with the free slots kept for reuse. Its memory is that
/// of the most entries held at once since it was last empty: one entry kept
/// through a burst keeps the burst's slots (as holes, which `iter` walks).
pub(super) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    /// How many entries are `Some`.
    len: usize,
}

impl<T> Slab<T> {
    pub(super) const fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Adds `value`; returns its slot.
    pub(super) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = Some(value);
                slot
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    /// Removes the entry at `slot` if `is_it` says it is the one expected.
    pub(super) fn remove_if(&mut self, slot: usize, is_it: impl FnOnce(&T) -> bool) -> Option<T> {
        let entry = self.entries.get_mut(slot)?;
        if !entry.as_ref().is_some_and(is_it) {
            return None;
        }
        let value = entry.take();
        self.len -= 1;
        if self.len == 0 {
            // Empty again: every slot is free, so none needs remembering, and
            // the memory of a burst goes back (a small list keeps its own).
            if self.entries.capacity() > KEEP {
                *self = Slab::new();
            } else {
                self.entries.clear();
                self.free.clear();
            }
        } else {
            self.free.push(slot);
        }
        value
    }

    /// The entries, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }

    /// Takes every entry out, leaving the list empty.
    pub(super) fn take_all(&mut self) -> impl Iterator<Item = T> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.entries).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn removes_by_slot_in_any_order_and_reuses_slots() {
        let mut slab = Slab::new();
        let slots: Vec<usize> = (0..5).map(|i| slab.insert(i)).collect();
        assert_eq!(slab.remove_if(slots[1], |&v| v == 1), Some(1));
        assert_eq!(slab.remove_if(slots[3], |&v| v == 3), Some(3));
        // A stale or wrong expectation removes nothing.
        assert_eq!(slab.remove_if(slots[1], |_| true), None);
        assert_eq!(slab.remove_if(slots[0], |&v| v == 9), None);
        let reused = slab.insert(7);
        assert!(reused == slots[1] || reused == slots[3]);
        let mut left: Vec<i32> = slab.iter().copied().collect();
        left.sort_unstable();
        assert_eq!(left, [0, 2, 4, 7]);
    }

    #[test]
    fn an_emptied_list_keeps_no_slots() {
        let mut slab = Slab::new();
        let slots: Vec<usize> = (0..100).map(|i| slab.insert(i)).collect();
        for (i, &slot) in slots.iter().enumerate().rev().step_by(2) {
            assert_eq!(slab.remove_if(slot, |&v| v == i), Some(i));
        }
        for (i, &slot) in slots.iter().enumerate().step_by(2) {
            assert_eq!(slab.remove_if(slot, |&v| v == i), Some(i));
        }
        assert_eq!(slab.iter().count(), 0);
        assert!(slab.entries.is_empty() && slab.free.is_empty());
        assert_eq!(slab.insert(1), 0);
    }

    #[test]
    fn take_all_empties_it_and_old_slots_remove_nothing() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        slab.insert("b");
        let mut taken: Vec<&str> = slab.take_all().collect();
        taken.sort_unstable();
        assert_eq!(taken, ["a", "b"]);
        let c = slab.insert("c");
        assert_eq!(c, a);
        assert_eq!(slab.remove_if(a, |&v| v == "a"), None);
        assert_eq!(slab.iter().copied().collect::<Vec<_>>(), ["c"]);
    }
}
