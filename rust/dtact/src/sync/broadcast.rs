//! A broadcast channel: every [`Receiver`] sees every value sent after it subscribed, up to
//! `capacity` values behind the newest; a receiver that falls further behind gets
//! [`RecvError::Lagged`](error::RecvError::Lagged) with the number it missed and continues with
//! the oldest value still kept (tokio's API; the capacity is used as given, not rounded up to a
//! power of two, and a value is kept until `capacity` newer ones were sent).
//!
//! ```
//! use dtact::sync::broadcast::{self, error::RecvError};
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let (tx, mut rx) = broadcast::channel(2);
//! for i in 0..5 { tx.send(i).unwrap(); }
//! rt.block_on(async {
//!     assert_eq!(rx.recv().await, Err(RecvError::Lagged(3)));
//!     assert_eq!(rx.recv().await, Ok(3));
//!     assert_eq!(rx.recv().await, Ok(4));
//!     drop(tx);
//!     assert_eq!(rx.recv().await, Err(RecvError::Closed));
//! });
//! ```
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use super::waiters::{lock, WakeList, Waiters};

/// The channel's errors.
pub mod error {
    use std::fmt;

    /// No receiver exists; the value comes back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);
    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }
    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl<T> std::error::Error for SendError<T> {}

    /// Why `recv` returned no value.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and this receiver has seen everything.
        Closed,
        /// The receiver fell behind: this many values were skipped.
        Lagged(u64),
    }
    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("channel closed"),
                RecvError::Lagged(n) => write!(f, "channel lagged by {}", n),
            }
        }
    }
    impl std::error::Error for RecvError {}

    /// Why `try_recv` returned no value.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// Nothing new.
        Empty,
        /// Every sender is gone and this receiver has seen everything.
        Closed,
        /// The receiver fell behind by this many values.
        Lagged(u64),
    }
    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
                TryRecvError::Lagged(n) => write!(f, "channel lagged by {}", n),
            }
        }
    }
    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

struct State<T> {
    /// The kept values; `buf[0]` has position `head`.
    buf: VecDeque<T>,
    head: u64,
    senders: usize,
    receivers: usize,
    waiters: Waiters<()>,
}

impl<T> State<T> {
    fn tail(&self) -> u64 {
        self.head + self.buf.len() as u64
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

/// A broadcast channel keeping the last `capacity` values.
///
/// # Panics
/// If `capacity` is 0.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "broadcast channel capacity cannot be zero");
    let shared = Arc::new(Shared {
        state: Mutex::new(State { buf: VecDeque::new(), head: 0, senders: 1, receivers: 1, waiters: Waiters::new() }),
        capacity,
    });
    (Sender { shared: shared.clone() }, Receiver { shared, next: 0 })
}

/// The sending half; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.shared.state);
            st.senders -= 1;
            if st.senders == 0 {
                while let Some(k) = st.waiters.pop_front() {
                    wake.push(st.waiters.get_mut(k).waker.take());
                }
            }
        }
        wake.wake();
    }
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver; returns how many receivers there are.
    ///
    /// # Errors
    /// [`SendError`] with the value if no receiver exists.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wake = WakeList::new();
        let (n, old) = {
            let mut st = lock(&self.shared.state);
            if st.receivers == 0 {
                return Err(SendError(value));
            }
            st.buf.push_back(value);
            let old = if st.buf.len() > self.shared.capacity {
                st.head += 1;
                st.buf.pop_front()
            } else {
                None
            };
            while let Some(k) = st.waiters.pop_front() {
                wake.push(st.waiters.get_mut(k).waker.take());
            }
            (st.receivers, old)
        };
        drop(old);
        wake.wake();
        Ok(n)
    }

    /// A new receiver that sees the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        Receiver { shared: self.shared.clone(), next: st.tail() }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.state).receivers
    }

    /// The number of values kept (at most the capacity).
    pub fn len(&self) -> usize {
        lock(&self.shared.state).buf.len()
    }

    /// Whether no value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A receiving half: sees every value sent after it was created.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("next", &self.next).finish()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.receivers -= 1;
        if st.receivers == 0 {
            // Nobody will read the kept values any more.
            let head = st.tail();
            let buf = std::mem::take(&mut st.buf);
            st.head = head;
            drop(st);
            drop(buf);
        }
    }
}

enum Got<T> {
    Value(T),
    Lagged(u64),
    Closed,
    Empty,
}

impl<T: Clone> Receiver<T> {
    fn try_take(&mut self, st: &mut State<T>) -> Got<T> {
        if self.next < st.head {
            let missed = st.head - self.next;
            self.next = st.head;
            return Got::Lagged(missed);
        }
        if self.next < st.tail() {
            let v = st.buf[(self.next - st.head) as usize].clone();
            self.next += 1;
            return Got::Value(v);
        }
        if st.senders == 0 {
            Got::Closed
        } else {
            Got::Empty
        }
    }

    /// Receives the next value, waiting (suspended) for one. Cancel-safe.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] if values were lost to this receiver, [`RecvError::Closed`] once
    /// every sender is gone and everything was received.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        Recv { rx: self, key: None }.await
    }

    /// The next value, if one is there now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], [`TryRecvError::Lagged`] or [`TryRecvError::Closed`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let shared = self.shared.clone();
        let mut st = lock(&shared.state);
        match self.try_take(&mut st) {
            Got::Value(v) => Ok(v),
            Got::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Got::Closed => Err(TryRecvError::Closed),
            Got::Empty => Err(TryRecvError::Empty),
        }
    }

    /// [`recv`](Self::recv) for synchronous code: suspends the fiber, or parks the thread.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        crate::wait(self.recv())
    }

    /// A new receiver starting at the newest position (values not yet sent).
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        Receiver { shared: self.shared.clone(), next: st.tail() }
    }

    /// The number of values this receiver has not seen yet (that are still kept).
    pub fn len(&self) -> usize {
        let st = lock(&self.shared.state);
        (st.tail() - self.next.max(st.head)) as usize
    }

    /// Whether this receiver has seen every kept value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    key: Option<usize>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.rx.shared.clone();
        let mut st = lock(&shared.state);
        if let Some(k) = this.key.take() {
            st.waiters.remove(k);
        }
        match this.rx.try_take(&mut st) {
            Got::Value(v) => Poll::Ready(Ok(v)),
            Got::Lagged(n) => Poll::Ready(Err(RecvError::Lagged(n))),
            Got::Closed => Poll::Ready(Err(RecvError::Closed)),
            Got::Empty => {
                this.key = Some(st.waiters.push((), cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            lock(&self.rx.shared.state).waiters.remove(k);
        }
    }
}
