//! Ordered work sharing for the read path: the calling thread and one spare thread of
//! the read pool (one thread fewer than the cores) take jobs `0..n` in turn, and the
//! caller consumes each job's result in job order while later jobs are still running.
//! A big selection is thus decoded on two cores, and the caller's own work on the
//! first series overlaps the decoding of the next.
//!
//! The caller never waits for a job nobody has started: when the pool is busy (many
//! queries at once), the caller simply runs every job itself, so a query is never
//! slower than decoding alone would be. A job that panics on the pool thread is run
//! again by the caller, where the panic surfaces as it would without the pool.
//!
//! The pool is a queue and a condition variable, written here rather than taken from
//! rayon: on this project's 2-core machines, a job given to an idle rayon worker
//! started after 2.6 ms at the median, a condition variable's waiter after 15 µs.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run queued jobs, each job on one thread.
struct Pool {
    queue: Mutex<VecDeque<Job>>,
    queued: Condvar,
}

impl Pool {
    fn spawn(&self, job: Job) {
        self.queue.lock().push_back(job);
        self.queued.notify_one();
    }

    fn serve(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock();
                loop {
                    match queue.pop_front() {
                        Some(job) => break job,
                        None => self.queued.wait(&mut queue),
                    }
                }
            };
            job();
        }
    }
}

/// The spare threads, one fewer than the cores (the caller is the other), at least
/// one; none if they cannot be started, and then callers do their jobs alone.
static POOL: LazyLock<Option<Arc<Pool>>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let pool = Arc::new(Pool {
        queue: Mutex::new(VecDeque::new()),
        queued: Condvar::new(),
    });
    for i in 0..cores.saturating_sub(1).max(1) {
        let serving = Arc::clone(&pool);
        std::thread::Builder::new()
            .name(format!("tsdb-read-{i}"))
            .spawn(move || serving.serve())
            .ok()?;
    }
    Some(pool)
});

/// Runs `run(0)`, …, `run(jobs - 1)`, on this thread and a spare pool thread, and calls
/// `consume` with the results in job order until it breaks.
pub(crate) fn for_each_in_order<T: Send + 'static>(
    jobs: usize,
    run: impl Fn(usize) -> T + Send + Sync + 'static,
    mut consume: impl FnMut(T) -> ControlFlow<()>,
) {
    let Some(pool) = POOL.as_ref().filter(|_| jobs >= 2) else {
        for i in 0..jobs {
            if consume(run(i)).is_break() {
                return;
            }
        }
        return;
    };
    let work = Arc::new(Work {
        run,
        jobs,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        slots: Mutex::new((0..jobs).map(|_| Slot::Pending).collect()),
        filled: Condvar::new(),
    });
    let helper = Arc::clone(&work);
    pool.spawn(Box::new(move || helper.help()));
    for i in 0..jobs {
        let result = work.result_of(i);
        if consume(result).is_break() {
            break;
        }
    }
    // Jobs the helper has not claimed yet are left undone.
    work.stop.store(true, Ordering::Relaxed);
}

enum Slot<T> {
    /// Not finished, or not claimed yet.
    Pending,
    Done(T),
    /// Claimed by the helper, which panicked running it.
    Abandoned,
}

struct Work<T, F> {
    run: F,
    jobs: usize,
    next: AtomicUsize,
    stop: AtomicBool,
    slots: Mutex<Vec<Slot<T>>>,
    filled: Condvar,
}

impl<T, F: Fn(usize) -> T> Work<T, F> {
    /// The next unclaimed job, claimed.
    fn claim(&self) -> Option<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.jobs).then_some(i)
    }

    /// The pool thread's side: claims and runs jobs until none are left.
    fn help(&self) {
        while let Some(i) = self.claim() {
            let slot = match catch_unwind(AssertUnwindSafe(|| (self.run)(i))) {
                Ok(result) => Slot::Done(result),
                Err(_) => Slot::Abandoned,
            };
            self.slots.lock()[i] = slot;
            self.filled.notify_all();
        }
    }

    /// Job `i`'s result, for the caller, which has taken every earlier one: jobs `i`
    /// and later that nobody has claimed are run here until job `i` is done.
    fn result_of(&self, i: usize) -> T {
        loop {
            match std::mem::replace(&mut self.slots.lock()[i], Slot::Pending) {
                Slot::Done(result) => return result,
                Slot::Abandoned => return (self.run)(i),
                Slot::Pending => {}
            }
            match self.claim() {
                Some(j) if j == i => return (self.run)(i),
                Some(j) => {
                    let result = (self.run)(j);
                    self.slots.lock()[j] = Slot::Done(result);
                }
                // Job `i` is the helper's and is running.
                None => {
                    let mut slots = self.slots.lock();
                    while matches!(slots[i], Slot::Pending) {
                        self.filled.wait(&mut slots);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_job_order() {
        for jobs in [0, 1, 2, 3, 50, 1000] {
            let mut seen = Vec::new();
            for_each_in_order(
                jobs,
                |i| {
                    // Uneven jobs, so that the two threads overtake each other.
                    std::thread::sleep(std::time::Duration::from_micros((i % 7) as u64 * 20));
                    i * 2
                },
                |r| {
                    seen.push(r);
                    ControlFlow::Continue(())
                },
            );
            assert_eq!(seen, (0..jobs).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn consuming_stops_where_the_consumer_breaks() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let mut seen = Vec::new();
        for_each_in_order(
            10_000,
            move |i| {
                counted.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(50));
                i
            },
            |r| {
                seen.push(r);
                if r == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(seen, vec![0, 1, 2, 3]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(runs.load(Ordering::Relaxed) < 10_000);
    }

    #[test]
    fn a_job_that_panics_on_the_pool_thread_is_run_again_by_the_caller() {
        let caller = std::thread::current().id();
        let mut seen = Vec::new();
        for_each_in_order(
            200,
            move |i| {
                std::thread::sleep(std::time::Duration::from_micros(30));
                if std::thread::current().id() != caller && i % 2 == 1 {
                    panic!("pool thread fails job {i}");
                }
                i
            },
            |r| {
                seen.push(r);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
    }
}
