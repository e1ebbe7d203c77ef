//! A bounded pool of spare buffers, for buffers too big to free after each use.

use std::sync::{Mutex, PoisonError};

/// Buffers kept from one use to the next. A big query's buffers are megabytes, which
/// the allocator hands back to the OS when they are freed and the next query faults in
/// again, page by page (a tenth of a 10,000-series query's time). Bounded: two buffers
/// of at most `max_bytes` each; bigger ones are freed.
pub struct SpareBuffers<T> {
    buffers: Mutex<Vec<Vec<T>>>,
    max_len: usize,
}

impl<T> SpareBuffers<T> {
    const KEPT: usize = 2;

    pub const fn new(max_bytes: usize) -> Self {
        SpareBuffers {
            buffers: Mutex::new(Vec::new()),
            max_len: max_bytes / std::mem::size_of::<T>(),
        }
    }

    /// A kept buffer (empty, with its capacity), or a new empty one.
    pub fn take(&self) -> Vec<T> {
        self.lock().pop().unwrap_or_default()
    }

    /// Keeps `buf` for a later [`SpareBuffers::take`] if it is small enough and the pool
    /// has room; frees it otherwise.
    pub fn give_back(&self, mut buf: Vec<T>) {
        if buf.capacity() <= self.max_len {
            buf.clear();
            let mut kept = self.lock();
            if kept.len() < Self::KEPT {
                kept.push(buf);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_two_small_buffers() {
        let spare: SpareBuffers<u64> = SpareBuffers::new(1024);
        spare.give_back(Vec::with_capacity(1000)); // 8000 bytes: too big, freed
        assert_eq!(spare.take().capacity(), 0);
        for _ in 0..3 {
            spare.give_back(vec![7; 100]);
        }
        let (a, b, c) = (spare.take(), spare.take(), spare.take());
        assert!(a.is_empty() && a.capacity() >= 100 && b.capacity() >= 100);
        assert_eq!(c.capacity(), 0);
    }
}
