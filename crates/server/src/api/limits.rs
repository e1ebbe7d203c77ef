//! Admission and cancellation of read work. At most `max_concurrent` requests are
//! admitted at once (later ones queue briefly, then get 503 `unavailable`); an admitted
//! request's storage or engine work then waits, in arrival order, for one of a few
//! evaluation workers (about one per core) and runs on a blocking thread under its
//! deadline. When the deadline passes or the client goes away, the work's cancel flag is
//! raised so the work itself stops (the engine and the discovery loops poll it), not
//! just the answer.
//!
//! Why two limits: admitting a hundred requests is cheap, but running a hundred
//! CPU-bound evaluations at once on two cores only time-slices them. The answers all
//! come late, the threads that write answers and read new requests wait behind them,
//! and whichever evaluation the scheduler favours less ends in the tail. A first-come,
//! first-served queue in front of a core-sized pool runs each evaluation at full speed,
//! so latency is the wait of the queue ahead plus the request's own work.

use super::response::{ApiError, ErrorType};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The deadline and cancel flag of one piece of work, handed to the work it runs.
#[derive(Debug, Clone)]
pub struct Budget {
    pub deadline: Instant,
    pub cancel: Arc<AtomicBool>,
}

impl Budget {
    pub(super) fn new(deadline: Instant) -> Self {
        Budget {
            deadline,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Errors once the request timed out or was abandoned; loops call it between items.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ApiError::new(ErrorType::Canceled, "query was canceled"));
        }
        if Instant::now() >= self.deadline {
            return Err(timeout_error());
        }
        Ok(())
    }
}

pub fn timeout_error() -> ApiError {
    ApiError::new(
        ErrorType::Timeout,
        "query timed out in expression evaluation",
    )
}

/// Why a request was turned away or cut short by the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot stayed busy for the whole queueing time.
    Busy,
    Timeout,
}

/// A failure of limited work: the error, and whether the limiter caused it.
pub type LimitError = (ApiError, Option<Refusal>);

/// The concurrency limits and the runner of blocking read work.
pub struct Limiter {
    slots: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    max_concurrent: usize,
    queue_timeout: Duration,
}

/// An admitted request: holds one of the `max_concurrent` slots until dropped. A
/// streamed answer keeps it for the whole stream and runs each piece through it.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    workers: Arc<Semaphore>,
}

/// Raises the cancel flag when the request's future is dropped (client gone, or timeout).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Limiter {
    /// `workers` evaluations run at once (at least one); `max_concurrent` requests are
    /// admitted, each waiting at most `queue_timeout` for its slot.
    pub fn new(max_concurrent: usize, workers: usize, queue_timeout: Duration) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Limiter {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            workers: Arc::new(Semaphore::new(workers.max(1))),
            max_concurrent,
            queue_timeout,
        }
    }

    /// Requests admitted right now (evaluating, or queued for a worker).
    pub fn in_flight(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
    }

    /// Waits up to the queueing time for a slot.
    pub async fn admit(&self) -> Result<Admission, LimitError> {
        match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Admission {
                _slot: slot,
                workers: self.workers.clone(),
            }),
            _ => {
                let msg = format!(
                    "too many concurrent queries (limit {}, METRICS_MAX_CONCURRENT_QUERIES); retry later",
                    self.max_concurrent
                );
                Err((
                    ApiError::new(ErrorType::Unavailable, msg),
                    Some(Refusal::Busy),
                ))
            }
        }
    }
}

impl Admission {
    /// Runs `work` on a blocking thread once an evaluation worker is free, until
    /// `deadline`. On a timeout the work is told to stop and keeps its worker until it
    /// has, so abandoned work never lets more evaluations run at once than there are
    /// workers.
    pub async fn run<T, F>(&self, deadline: Instant, work: F) -> Result<T, LimitError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        let budget = Budget::new(deadline);
        let _guard = CancelOnDrop(budget.cancel.clone());
        let workers = self.workers.clone();
        let running = async move {
            let worker = workers
                .acquire_owned()
                .await
                .map_err(|_| ApiError::internal("the query workers are shut down"))?;
            tokio::task::spawn_blocking(move || {
                let _worker = worker;
                work(&budget)
            })
            .await
            .map_err(|join| ApiError::internal(format!("query failed: {join}")))?
        };
        match tokio::time::timeout_at(deadline.into(), running).await {
            Ok(result) => result.map_err(|e| (e, None)),
            Err(_) => Err((timeout_error(), Some(Refusal::Timeout))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits, then runs `work` for at most `timeout` from now.
    async fn run<T, F>(limiter: &Limiter, timeout: Duration, work: F) -> Result<T, LimitError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        let deadline = Instant::now() + timeout;
        limiter.admit().await?.run(deadline, work).await
    }

    /// Starts work that holds its slot and worker until the returned sender fires.
    async fn occupy_a_worker(
        limiter: &Arc<Limiter>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), LimitError>>,
    ) {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let l = limiter.clone();
        let first = tokio::spawn(async move {
            run(&l, Duration::from_secs(30), move |_| {
                started_tx.send(()).ok();
                release_rx.recv().ok();
                Ok(())
            })
            .await
        });
        started_rx.await.unwrap();
        (release_tx, first)
    }

    #[tokio::test]
    async fn timeout_cancels_the_work() {
        let limiter = Limiter::new(1, 1, Duration::from_secs(5));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = run(&limiter, Duration::from_millis(20), move |b| loop {
            if let Err(e) = b.check() {
                tx.send(()).ok();
                return Err::<(), _>(e);
            }
            std::thread::sleep(Duration::from_millis(1));
        })
        .await
        .unwrap_err();
        assert_eq!(err.0.kind, ErrorType::Timeout);
        // The work saw its deadline or cancel flag and stopped by itself.
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[tokio::test]
    async fn busy_slots_refuse_after_queueing() {
        let limiter = Arc::new(Limiter::new(1, 1, Duration::from_millis(10)));
        let (release_tx, first) = occupy_a_worker(&limiter).await;
        assert_eq!(limiter.in_flight(), 1);
        let err = run(&limiter, Duration::from_secs(1), |_| Ok(()))
            .await
            .unwrap_err();
        assert_eq!(err.0.kind, ErrorType::Unavailable);
        assert_eq!(err.1, Some(Refusal::Busy));
        release_tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        run(&limiter, Duration::from_secs(1), |_| Ok(()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn admitted_work_waits_for_a_worker_in_arrival_order() {
        let limiter = Arc::new(Limiter::new(10, 1, Duration::from_secs(5)));
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (release_tx, first) = occupy_a_worker(&limiter).await;
        let mut queued = Vec::new();
        for i in 1..=3 {
            let (l, order) = (limiter.clone(), order.clone());
            queued.push(tokio::spawn(async move {
                run(&l, Duration::from_secs(30), move |_| {
                    order.lock().push(i);
                    Ok(())
                })
                .await
            }));
            // Each is admitted (and so queued for the worker) before the next starts.
            while limiter.in_flight() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        assert!(order.lock().is_empty(), "the one worker is busy");
        release_tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock(), [1, 2, 3]);
        assert_eq!(limiter.in_flight(), 0);
    }
}
