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
    /// Messages read whole and waiting to be stored: in memory, but only new input makes more
    /// of them, so only new input is refused for them ([`Held::grow_input`]). Answers,
    /// broadcasts and pages still go out, or nothing would drain.
    waiting: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
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

    /// Bytes of messages waiting to be stored.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit beside what is held and `also` more.
    fn try_take(&self, bytes: usize, also: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|total| total.saturating_add(also) <= self.limit)
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
        self.grow_beside(bytes, 0)
    }

    /// Takes `bytes` more of input (a message being read): false also when messages waiting
    /// to be stored fill the rest of the budget.
    pub fn grow_input(&mut self, bytes: usize) -> bool {
        let waiting = self.budget.waiting();
        self.grow_beside(bytes, waiting)
    }

    fn grow_beside(&mut self, bytes: usize, also: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        if self.budget.try_take(bytes, also) {
            self.bytes += bytes;
            true
        } else {
            false
        }
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

/// Messages read whole and waiting to be stored, counted in the budget's `waiting` (see
/// [`MemoryBudget`]); given back when dropped.
#[derive(Debug)]
pub struct Waiting {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Waiting {
    /// Nothing waiting yet.
    pub fn new(budget: &Arc<MemoryBudget>) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Counts exactly `bytes` as waiting (never refused: they are in memory already).
    pub fn set(&mut self, bytes: usize) {
        if bytes >= self.bytes {
            self.budget
                .waiting
                .fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.budget
                .waiting
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.set(0);
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
        // Messages waiting to be stored refuse new input only, past the limit if they must.
        let mut waiting = Waiting::new(&budget);
        waiting.set(150);
        assert!(!Held::new(&budget).grow_input(1), "input refused");
        let mut answer = Held::new(&budget);
        assert!(answer.grow(90), "answers still go out");
        drop(answer);
        waiting.set(80);
        assert!(Held::new(&budget).grow_input(10));
        assert!(!Held::new(&budget).grow_input(11));
        drop(waiting);
        assert_eq!((budget.used(), budget.waiting()), (10, 0));
    }
}
