//! Admission and cancellation of read work: at most `max_concurrent` requests evaluate at
//! once (later ones queue briefly, then get 503 `unavailable`), and each runs on a
//! blocking thread under a deadline. When the deadline passes or the client goes away,
//! the request's cancel flag is raised so the work itself stops (the engine and the
//! discovery loops poll it), not just the answer.

use super::response::{ApiError, ErrorType};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The deadline and cancel flag of one request, handed to the work it runs.
#[derive(Debug, Clone)]
pub struct Budget {
    pub deadline: Instant,
    pub cancel: Arc<AtomicBool>,
}

impl Budget {
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

/// Why a request was turned away before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot stayed busy for the whole queueing time.
    Busy,
    Timeout,
}

/// The concurrency limit and the runner of blocking read work.
pub struct Limiter {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    queue_timeout: Duration,
}

/// Raises the cancel flag when the request's future is dropped (client gone, or timeout).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Limiter {
    pub fn new(max_concurrent: usize, queue_timeout: Duration) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Limiter {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            queue_timeout,
        }
    }

    /// Requests evaluating right now.
    pub fn in_flight(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
    }

    /// Runs `work` on a blocking thread once a slot is free, for at most `timeout`.
    /// On a timeout the work is told to stop and keeps its slot until it has, so abandoned
    /// work never lets more than `max_concurrent` evaluations run at once.
    pub async fn run<T, F>(
        &self,
        timeout: Duration,
        work: F,
    ) -> Result<T, (ApiError, Option<Refusal>)>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = match tokio::time::timeout(
            self.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                let msg = format!(
                    "too many concurrent queries (limit {}, METRICS_MAX_CONCURRENT_QUERIES); retry later",
                    self.max_concurrent
                );
                return Err((
                    ApiError::new(ErrorType::Unavailable, msg),
                    Some(Refusal::Busy),
                ));
            }
        };
        let budget = Budget {
            deadline: Instant::now() + timeout,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let _guard = CancelOnDrop(budget.cancel.clone());
        let task_budget = budget.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&task_budget)
        });
        match tokio::time::timeout_at(budget.deadline.into(), task).await {
            Ok(Ok(result)) => result.map_err(|e| (e, None)),
            Ok(Err(join)) => Err((ApiError::internal(format!("query failed: {join}")), None)),
            Err(_) => Err((timeout_error(), Some(Refusal::Timeout))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timeout_cancels_the_work() {
        let limiter = Limiter::new(1, Duration::from_secs(5));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = limiter
            .run(Duration::from_millis(20), move |b| loop {
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
        let limiter = Arc::new(Limiter::new(1, Duration::from_millis(10)));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let l = limiter.clone();
        let first = tokio::spawn(async move {
            l.run(Duration::from_secs(30), move |_| {
                started_tx.send(()).ok();
                release_rx.recv().ok();
                Ok(())
            })
            .await
        });
        started_rx.await.unwrap();
        assert_eq!(limiter.in_flight(), 1);
        let err = limiter
            .run(Duration::from_secs(1), |_| Ok(()))
            .await
            .unwrap_err();
        assert_eq!(err.0.kind, ErrorType::Unavailable);
        assert_eq!(err.1, Some(Refusal::Busy));
        release_tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        limiter
            .run(Duration::from_secs(1), |_| Ok(()))
            .await
            .unwrap();
    }
}
