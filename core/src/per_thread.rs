//! State kept apart per thread ([`PerThread`]): each thread updates its own slot, on a cache
//! line of its own, so two serving threads never write the same memory on the request path
//! (each such write moves the line between cores: ~100 ns on these machines, and a request
//! made a few dozen of them). A reader that needs the whole picture combines the slots.
//!
//! A thread's slot is fixed for its life: serving thread `i` claims slot `i` when it starts
//! ([`claim`]); any other thread takes the next one in turn on first use. Slots wrap around
//! when there are more threads than slots, which only puts two threads back on one line.

use std::cell::Cell;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slots per [`PerThread`]: one per CPU (at least one, at most 64), as there is one serving
/// thread per CPU by default.
static SLOTS: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 64)
});

/// The next slot for a thread that claimed none.
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Puts the calling thread on slot `index` (wrapped to the slot count).
pub fn claim(index: usize) {
    SLOT.with(|slot| slot.set(Some(index % *SLOTS)));
}

/// The calling thread's slot.
pub fn slot() -> usize {
    SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            let index = NEXT.fetch_add(1, Ordering::Relaxed) % *SLOTS;
            slot.set(Some(index));
            index
        })
    })
}

/// Runs `work` on a new thread on the slot after the caller's (the same one when there is only
/// one slot), and returns what it returns.
#[cfg(test)]
pub fn on_the_next_slot<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    let next = slot() + 1;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                claim(next);
                work()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A value on a cache line (and the adjacent line the CPU prefetches with it) of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One `T` per thread slot.
#[derive(Debug)]
pub struct PerThread<T> {
    slots: Box<[Padded<T>]>,
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        Self::with(T::default)
    }
}

impl<T> PerThread<T> {
    /// One value per slot, each made by `make`.
    pub fn with(mut make: impl FnMut() -> T) -> Self {
        Self {
            slots: (0..*SLOTS).map(|_| Padded(make())).collect(),
        }
    }

    /// The calling thread's value.
    pub fn local(&self) -> &T {
        self.at(slot())
    }

    /// The value of slot `index` (a slot number from [`slot`]).
    pub fn at(&self, index: usize) -> &T {
        &self.slots[index % self.slots.len()]
    }

    /// Every slot's value.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|padded| &padded.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn each_thread_keeps_its_slot_and_claimed_slots_are_used() {
        let counts: PerThread<AtomicU32> = PerThread::default();
        let first = slot();
        assert_eq!(slot(), first, "a thread's slot does not change");
        counts.local().fetch_add(1, Ordering::Relaxed);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                claim(*SLOTS + 1);
                assert_eq!(slot(), 1 % *SLOTS, "claimed slots wrap");
                counts.local().fetch_add(10, Ordering::Relaxed);
            });
        });
        let total: u32 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 11, "the slots together hold every thread's updates");
        assert!(
            counts.at(1 % *SLOTS).load(Ordering::Relaxed) >= 10,
            "the claimed slot"
        );
    }

    #[test]
    fn slots_are_on_lines_of_their_own() {
        let values: PerThread<u8> = PerThread::default();
        assert_eq!(std::mem::align_of::<Padded<u8>>(), 128);
        if *SLOTS > 1 {
            let gap = std::ptr::from_ref(values.at(1)) as usize
                - std::ptr::from_ref(values.at(0)) as usize;
            assert_eq!(gap, 128);
        }
    }
}
