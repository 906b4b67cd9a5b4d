//! [`Notify`]: wakes one task or all waiting tasks (tokio's semantics).
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::waiters::{lock, WakeList, Waiters};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Waiting,
    /// Woken by notify_one: if dropped before it sees this, the notification moves on.
    One,
    /// Woken by notify_waiters.
    All,
}

struct State {
    /// A stored notify_one for the next waiter (at most one, as in tokio).
    permit: bool,
    waiters: Waiters<Outcome>,
}

/// A task notification: [`notify_one`](Notify::notify_one) wakes one waiting
/// [`notified`](Notify::notified) future (FIFO), or, if none waits, stores one permit that the
/// next `notified().await` consumes at once; [`notify_waiters`](Notify::notify_waiters) wakes
/// every waiting future, including those created but not polled yet, and stores nothing.
///
/// ```
/// use std::sync::Arc;
/// use dtact::sync::Notify;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let n = Arc::new(Notify::new());
/// let n2 = n.clone();
/// let h = dtact::spawn(async move { n2.notified().await; 7 });
/// n.notify_one();
/// assert_eq!(h.join().unwrap(), 7);
/// # drop(rt);
/// ```
pub struct Notify {
    state: Mutex<State>,
    /// Count of notify_waiters calls; a Notified created before a call completes.
    gen: AtomicU64,
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").field("permit", &lock(&self.state).permit).finish()
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl Notify {
    /// A notify with no stored permit.
    pub fn new() -> Notify {
        Notify { state: Mutex::new(State { permit: false, waiters: Waiters::new() }), gen: AtomicU64::new(0) }
    }

    /// A future that completes at the next notification. It already counts for
    /// [`notify_waiters`](Self::notify_waiters) when created; for
    /// [`notify_one`](Self::notify_one) from its first poll. Dropping it gives up its place (a
    /// `notify_one` it received but did not consume goes to the next waiter).
    pub fn notified(&self) -> Notified<'_> {
        // order: SeqCst pairs with notify_waiters' increment: a state change made before
        // notify_waiters is either seen by the caller's check after this call, or this
        // snapshot is older than the increment and the future completes.
        Notified { notify: self, gen: self.gen.load(Ordering::SeqCst), key: None, done: false }
    }

    /// Wakes the first waiting [`Notified`], or stores a permit if none waits.
    pub fn notify_one(&self) {
        let w = {
            let mut st = lock(&self.state);
            Self::notify_one_locked(&mut st)
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    fn notify_one_locked(st: &mut State) -> Option<std::task::Waker> {
        match st.waiters.pop_front() {
            Some(k) => {
                let e = st.waiters.get_mut(k);
                e.data = Outcome::One;
                e.waker.take()
            }
            None => {
                st.permit = true;
                None
            }
        }
    }

    /// Wakes every waiting [`Notified`] (and every one created before this call); stores no
    /// permit.
    pub fn notify_waiters(&self) {
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.state);
            // order: SeqCst, see `notified`.
            self.gen.fetch_add(1, Ordering::SeqCst);
            while let Some(k) = st.waiters.pop_front() {
                let e = st.waiters.get_mut(k);
                e.data = Outcome::All;
                wake.push(e.waker.take());
            }
        }
        wake.wake();
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    gen: u64,
    key: Option<usize>,
    done: bool,
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").field("waiting", &self.key.is_some()).field("done", &self.done).finish()
    }
}

impl Future for Notified<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let mut st = lock(&this.notify.state);
        match this.key {
            None => {
                // order: SeqCst, see `notified`.
                if this.notify.gen.load(Ordering::SeqCst) != this.gen || std::mem::replace(&mut st.permit, false) {
                    this.done = true;
                    return Poll::Ready(());
                }
                this.key = Some(st.waiters.push(Outcome::Waiting, cx.waker()));
                Poll::Pending
            }
            Some(k) => {
                if st.waiters.get_mut(k).data == Outcome::Waiting {
                    st.waiters.update_waker(k, cx);
                    return Poll::Pending;
                }
                st.waiters.remove(k);
                this.key = None;
                this.done = true;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let k = match self.key.take() {
            Some(k) => k,
            None => return,
        };
        let w = {
            let mut st = lock(&self.notify.state);
            let e = st.waiters.remove(k);
            if e.data == Outcome::One {
                Notify::notify_one_locked(&mut st)
            } else {
                None
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}
