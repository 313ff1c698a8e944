//! "Something was written": what a waiting changes feed waits on, by a thread
//! (in process) or by a task (`couch-sql serve`, where a thread per waiting
//! client would let a few hundred longpolls take every worker).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A count of writes, and who waits for the next.
#[derive(Default)]
pub(crate) struct Written {
    count: Mutex<u64>,
    threads: Condvar,
    tasks: Mutex<Vec<Waker>>,
}

impl Written {
    /// The number of writes so far.
    pub(crate) fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more write: wakes every waiter.
    pub(crate) fn bump(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.threads.notify_all();
        for waker in std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner())) {
            waker.wake();
        }
    }

    /// Blocks until the count is past `seen`, or `deadline`.
    pub(crate) fn wait(&self, seen: u64, deadline: Instant) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count == seen {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
            count = self.threads.wait_timeout(count, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Resolves when the count is past `seen` (bound it with a timeout).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn after(&self, seen: u64) -> After<'_> {
        After { written: self, seen }
    }
}

/// [`Written::after`]'s future.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct After<'a> {
    written: &'a Written,
    seen: u64,
}

impl Future for After<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.written.count() != self.seen {
            return Poll::Ready(());
        }
        let mut tasks = self.written.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if !tasks.iter().any(|w| w.will_wake(cx.waker())) {
            // The wakers of waits that timed out stay until the next write; so that a
            // server without writes does not keep them forever, many are woken early
            // (a woken wait that is still wanted looks again and registers again).
            if tasks.len() >= 4096 {
                std::mem::take(&mut *tasks).into_iter().for_each(Waker::wake);
            }
            tasks.push(cx.waker().clone());
        }
        drop(tasks);
        // A write between the first look and the registration would wake no one: look again.
        if self.written.count() != self.seen {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
