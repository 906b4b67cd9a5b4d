//! [`Barrier`]: tasks wait until `n` of them have arrived (tokio's semantics).
use std::sync::Mutex;

use super::notify::Notify;
use super::waiters::lock;

struct State {
    arrived: usize,
    generation: u64,
}

/// A reusable barrier: [`wait`](Barrier::wait) suspends the task until `n` tasks have called it
/// in the current round; exactly one of them (the last to arrive) gets
/// [`is_leader`](BarrierWaitResult::is_leader) `true`. A task that arrived counts even if its
/// future is dropped afterwards (as in tokio).
///
/// ```
/// use std::sync::Arc;
/// use dtact::sync::Barrier;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let b = Arc::new(Barrier::new(3));
/// let hs: Vec<_> = (0..3).map(|_| { let b = b.clone(); dtact::spawn(async move { b.wait().await.is_leader() }) }).collect();
/// let leaders = hs.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// # drop(rt);
/// ```
#[derive(Debug)]
pub struct Barrier {
    n: usize,
    state: Mutex<State>,
    notify: Notify,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("arrived", &self.arrived).field("generation", &self.generation).finish()
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this task was the round's leader (exactly one per round).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks (`n == 0` behaves as 1, as in tokio).
    pub fn new(n: usize) -> Barrier {
        Barrier { n: n.max(1), state: Mutex::new(State { arrived: 0, generation: 0 }), notify: Notify::new() }
    }

    /// Waits until `n` tasks have arrived in this round.
    pub async fn wait(&self) -> BarrierWaitResult {
        let (my_gen, mut notified) = {
            let mut st = lock(&self.state);
            st.arrived += 1;
            if st.arrived == self.n {
                st.arrived = 0;
                st.generation += 1;
                drop(st);
                self.notify.notify_waiters();
                return BarrierWaitResult(true);
            }
            // Created under the lock: the leader's notify_waiters comes after it.
            (st.generation, self.notify.notified())
        };
        loop {
            notified.await;
            // Created before the check: no round end can slip in between.
            notified = self.notify.notified();
            if lock(&self.state).generation != my_gen {
                return BarrierWaitResult(false);
            }
        }
    }

    /// [`wait`](Self::wait) for synchronous code: suspends the fiber, or parks the thread.
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_wait(&self) -> BarrierWaitResult {
        crate::wait(self.wait())
    }
}
