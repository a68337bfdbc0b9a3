//! Timeouts for work that is usually done at once: the timer is armed only when the work is
//! still pending after the task has yielded once.
//!
//! A client's request body is the case: hyper hands the body to the handler only after the
//! handler has asked for it, so the first poll is pending even when the whole body came with the
//! request head, and the second, one turn of the connection's task later, finds it complete.
//! Arming a timer costs a registration in the runtime's timer wheel and its removal (about 1.4%
//! of Realms' CPU at c=64 in `bench/`); a body that does not arrive by the second poll still gets
//! the whole timeout, counted from the first.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

/// The work's output, or `Err(Elapsed)` when `limit` passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `work` for at most `limit`, without a timer when it completes by its second poll.
pub async fn within<F: Future>(limit: Duration, work: F) -> Result<F::Output, Elapsed> {
    let deadline = Instant::now() + limit;
    let mut work = pin!(work);
    let mut yielded = false;
    let early = std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending if yielded => Poll::Ready(None),
        Poll::Pending => {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    match early {
        Some(output) => Ok(output),
        None => tokio::time::timeout_at(deadline, work)
            .await
            .map_err(|_| Elapsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that is pending for its first `pending` polls (waking itself each time).
    fn ready_after(pending: usize) -> impl Future<Output = &'static str> {
        let mut left = pending;
        std::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready("done");
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[tokio::test(start_paused = true)]
    async fn work_done_by_the_second_poll_needs_no_timer() {
        assert_eq!(within(Duration::ZERO, ready_after(0)).await, Ok("done"));
        // With a zero limit, a timer would have expired at once: none was armed.
        assert_eq!(within(Duration::ZERO, ready_after(1)).await, Ok("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn later_work_gets_the_rest_of_the_limit() {
        // Pending at the third poll, the first with the timer armed.
        assert_eq!(within(Duration::ZERO, ready_after(3)).await, Err(Elapsed));
        assert_eq!(
            within(Duration::from_secs(1), ready_after(5)).await,
            Ok("done")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_counts_from_the_first_poll() {
        let started = Instant::now();
        let never = within(Duration::from_millis(250), std::future::pending::<()>()).await;
        assert_eq!(never, Err(Elapsed));
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }
}
