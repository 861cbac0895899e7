//! One memory budget for the whole process: what clients make the server hold (input being
//! buffered, outbound queues, history pages in flight) is taken from it first, and work that
//! would go over it is refused (1013) instead of growing the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Makes glibc's allocator give large blocks (1 MiB and up: welcomes, pages, uploads) back to
/// the system when they are freed. By default it raises its mmap threshold after each such
/// free, up to 32 MiB, and then keeps later ones in its heap: the process stayed large after
/// the clients that made it grow had left.
pub fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; a refusal leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Bytes the process may hold for its clients.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The limit, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Held {
    /// Nothing held yet.
    pub fn new(budget: &Arc<MemoryBudget>) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes` more; false (and nothing taken) when the budget has not got them.
    pub fn grow(&mut self, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        if self.budget.try_take(bytes) {
            self.bytes += bytes;
            true
        } else {
            false
        }
    }

    /// Takes `bytes` more even past the limit: what is in memory already (a message read
    /// whole, on its way to the store) counts, so new work is refused until it is given back.
    pub fn grow_anyway(&mut self, bytes: usize) {
        self.budget.used.fetch_add(bytes, Ordering::AcqRel);
        self.bytes += bytes;
    }

    /// Holds exactly `bytes` (more or less than now); false when growing is refused.
    pub fn set(&mut self, bytes: usize) -> bool {
        if bytes >= self.bytes {
            self.grow(bytes - self.bytes)
        } else {
            self.budget.give(self.bytes - bytes);
            self.bytes = bytes;
            true
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_refused_over_the_limit_and_given_back_on_drop() {
        let budget = MemoryBudget::new(100);
        let mut a = Held::new(&budget);
        let mut b = Held::new(&budget);
        assert!(a.grow(60));
        assert!(!b.grow(41), "over the limit");
        assert!(b.grow(40));
        assert_eq!(budget.used(), 100);
        assert!(a.set(10));
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 10);
        // Past the limit when it must: then nothing more is let in until it is given back.
        a.grow_anyway(150);
        assert_eq!(budget.used(), 160);
        assert!(!Held::new(&budget).grow(1));
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
