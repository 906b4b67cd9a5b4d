//! Multi-producer, single-consumer channels, bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]), with tokio's API. A bounded channel's capacity works as a FIFO
//! semaphore (as in tokio): a sender waits for a slot in arrival order. Messages arrive
//! in the order they were sent (per sender, and globally in the order sends completed).
//!
//! ```
//! use dtact::sync::mpsc;
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let (tx, mut rx) = mpsc::channel(4);
//! let h = dtact::spawn(async move {
//!     for i in 0..10 { tx.send(i).await.unwrap(); }
//! });
//! let got: Vec<i32> = rt.block_on(async { let mut v = vec![]; while let Some(x) = rx.recv().await { v.push(x); } v });
//! assert_eq!(got, (0..10).collect::<Vec<_>>());
//! h.join().unwrap();
//! ```
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::notify::Notify;
use super::waiters::{lock, WakeList, Waiters};

/// The channels' errors.
pub mod error {
    use std::fmt;

    /// The receiver is gone (dropped or closed); the value comes back.
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

    /// Why a `try_send` failed; the value comes back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub enum TrySendError<T> {
        /// The channel is full.
        Full(T),
        /// The receiver is gone.
        Closed(T),
    }

    impl<T> TrySendError<T> {
        /// The value that was not sent.
        pub fn into_inner(self) -> T {
            match self {
                TrySendError::Full(v) | TrySendError::Closed(v) => v,
            }
        }
    }
    impl<T> fmt::Debug for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => f.write_str("Full(..)"),
                TrySendError::Closed(_) => f.write_str("Closed(..)"),
            }
        }
    }
    impl<T> fmt::Display for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => f.write_str("no available capacity"),
                TrySendError::Closed(_) => f.write_str("channel closed"),
            }
        }
    }
    impl<T> std::error::Error for TrySendError<T> {}
    impl<T> From<SendError<T>> for TrySendError<T> {
        fn from(e: SendError<T>) -> Self {
            TrySendError::Closed(e.0)
        }
    }

    /// Why a `send_timeout` failed; the value comes back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub enum SendTimeoutError<T> {
        /// No slot became free in time.
        Timeout(T),
        /// The receiver is gone.
        Closed(T),
    }
    impl<T> SendTimeoutError<T> {
        /// The value that was not sent.
        pub fn into_inner(self) -> T {
            match self {
                SendTimeoutError::Timeout(v) | SendTimeoutError::Closed(v) => v,
            }
        }
    }
    impl<T> fmt::Debug for SendTimeoutError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
                SendTimeoutError::Closed(_) => f.write_str("Closed(..)"),
            }
        }
    }
    impl<T> fmt::Display for SendTimeoutError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                SendTimeoutError::Timeout(_) => f.write_str("timed out waiting on send operation"),
                SendTimeoutError::Closed(_) => f.write_str("channel closed"),
            }
        }
    }
    impl<T> std::error::Error for SendTimeoutError<T> {}

    /// Why a `try_recv` returned nothing.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// No message now; senders remain.
        Empty,
        /// No message, and every sender is gone (or the receiver closed the channel).
        Disconnected,
    }
    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("receiving on an empty channel"),
                TryRecvError::Disconnected => f.write_str("receiving on a closed channel"),
            }
        }
    }
    impl std::error::Error for TryRecvError {}
}

use error::{SendError, SendTimeoutError, TryRecvError, TrySendError};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    /// A slot was reserved for this sender.
    Granted,
    /// The receiver went away.
    Closed,
}

struct State<T> {
    queue: VecDeque<T>,
    rx_waker: Option<Waker>,
    rx_closed: bool,
    senders: usize,
    /// Free slots of a bounded channel (not counting those granted to waiting senders).
    free: usize,
    /// Senders of a bounded channel waiting for a slot (FIFO).
    send_waiters: Waiters<Slot>,
}

impl<T> State<T> {
    /// Hands free slots to waiting senders, in order.
    fn grant(&mut self, wake: &mut WakeList) {
        while self.free > 0 {
            match self.send_waiters.pop_front() {
                Some(k) => {
                    self.free -= 1;
                    let e = self.send_waiters.get_mut(k);
                    e.data = Slot::Granted;
                    wake.push(e.waker.take());
                }
                None => break,
            }
        }
    }
}

/// The channel: one lock over the queue, the slot count and the waiting senders (a bounded
/// channel's capacity works as a FIFO semaphore, as in tokio, kept under the same lock).
struct Chan<T> {
    state: Mutex<State<T>>,
    bounded: bool,
    capacity: usize,
    /// Woken when the receiver closes (Sender::closed).
    closed: Notify,
}

impl<T> Chan<T> {
    fn new(bound: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                rx_waker: None,
                rx_closed: false,
                senders: 1,
                free: bound.unwrap_or(0),
                send_waiters: Waiters::new(),
            }),
            bounded: bound.is_some(),
            capacity: bound.unwrap_or(usize::MAX),
            closed: Notify::new(),
        })
    }

    /// Queues `v` in `st` (its slot, if bounded, is taken) and returns the receiver's waker.
    fn push_locked(st: &mut State<T>, v: T) -> Option<Waker> {
        st.queue.push_back(v);
        st.rx_waker.take()
    }

    /// Sends on an unbounded channel.
    fn push(&self, v: T) -> Result<(), T> {
        let w = {
            let mut st = lock(&self.state);
            if st.rx_closed {
                return Err(v);
            }
            Self::push_locked(&mut st, v)
        };
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let w = {
            let mut st = lock(&self.state);
            if st.rx_closed {
                return Err(TrySendError::Closed(v));
            }
            if st.free == 0 || !st.send_waiters.is_empty() {
                return Err(TrySendError::Full(v));
            }
            st.free -= 1;
            Self::push_locked(&mut st, v)
        };
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        lock(&self.state).rx_closed
    }

    async fn closed(&self) {
        loop {
            let n = self.closed.notified();
            if self.is_closed() {
                return;
            }
            n.await;
        }
    }

    fn add_sender(&self) {
        lock(&self.state).senders += 1;
    }

    fn drop_sender(&self) {
        let w = {
            let mut st = lock(&self.state);
            st.senders -= 1;
            if st.senders == 0 {
                st.rx_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Takes the next message under the lock, freeing its slot (and handing it to a waiting
    /// sender); `Err(disconnected)` when there is none.
    fn pop_locked(&self, st: &mut State<T>, wake: &mut WakeList) -> Result<T, bool> {
        match st.queue.pop_front() {
            Some(v) => {
                if self.bounded {
                    st.free += 1;
                    st.grant(wake);
                }
                Ok(v)
            }
            None => Err(st.senders == 0 || st.rx_closed),
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut wake = WakeList::new();
        let r = {
            let mut st = lock(&self.state);
            match self.pop_locked(&mut st, &mut wake) {
                Ok(v) => Poll::Ready(Some(v)),
                Err(true) => Poll::Ready(None),
                Err(false) => {
                    match &st.rx_waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => st.rx_waker = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        };
        wake.wake();
        r
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut wake = WakeList::new();
        let r = {
            let mut st = lock(&self.state);
            match self.pop_locked(&mut st, &mut wake) {
                Ok(v) => Ok(v),
                Err(true) => Err(TryRecvError::Disconnected),
                Err(false) => Err(TryRecvError::Empty),
            }
        };
        wake.wake();
        r
    }

    fn close(&self) {
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.rx_closed = true;
            while let Some(k) = st.send_waiters.pop_front() {
                let e = st.send_waiters.get_mut(k);
                e.data = Slot::Closed;
                wake.push(e.waker.take());
            }
        }
        wake.wake();
        self.closed.notify_waiters();
    }

    fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Free slots (0 while senders wait: those slots are theirs).
    fn free(&self) -> usize {
        let st = lock(&self.state);
        if st.send_waiters.is_empty() {
            st.free
        } else {
            0
        }
    }
}

/// The future of a bounded send: waits for a slot (FIFO) and queues the value. `Unpin`.
struct SendFut<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    key: Option<usize>,
}

impl<T> Unpin for SendFut<'_, T> {}

impl<T> Future for SendFut<'_, T> {
    type Output = Result<(), SendError<T>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let w = {
            let mut st = lock(&this.chan.state);
            let outcome = match this.key {
                None if st.rx_closed => Slot::Closed,
                None if st.free > 0 && st.send_waiters.is_empty() => {
                    st.free -= 1;
                    Slot::Granted
                }
                None => {
                    this.key = Some(st.send_waiters.push(Slot::Waiting, cx.waker()));
                    return Poll::Pending;
                }
                Some(k) => match st.send_waiters.get_mut(k).data {
                    Slot::Waiting => {
                        st.send_waiters.update_waker(k, cx);
                        return Poll::Pending;
                    }
                    o => {
                        st.send_waiters.remove(k);
                        this.key = None;
                        o
                    }
                },
            };
            let v = this.value.take().expect("dtact::sync::mpsc: send polled after completion");
            if outcome == Slot::Closed || st.rx_closed {
                return Poll::Ready(Err(SendError(v)));
            }
            Chan::push_locked(&mut st, v)
        };
        if let Some(w) = w {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for SendFut<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let mut wake = WakeList::new();
            {
                let mut st = lock(&self.chan.state);
                if st.send_waiters.remove(k).data == Slot::Granted {
                    // A slot reserved for us and never used goes to the next sender.
                    st.free += 1;
                    st.grant(&mut wake);
                }
            }
            wake.wake();
        }
    }
}

/// A bounded channel of `buffer` messages: senders wait (suspended) while it is full.
///
/// # Panics
/// If `buffer` is 0.
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    let c = Chan::new(Some(buffer));
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

/// An unbounded channel: sends never wait.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let c = Chan::new(None);
    (UnboundedSender { chan: c.clone() }, UnboundedReceiver { chan: c })
}

/// The sending half of a bounded channel; clone it for more producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender { chan: self.chan.clone() }
    }
}
impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}
impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("capacity", &self.capacity()).finish()
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting (suspended, FIFO among senders) for a free slot. Cancel-safe
    /// in tokio's sense: dropping the future before it completes loses the value but no slot.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        SendFut { chan: &self.chan, value: Some(value), key: None }.await
    }

    /// Sends `value` if a slot is free now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Closed`], with the value.
    pub async fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let mut send = SendFut { chan: &self.chan, value: Some(value), key: None };
        match crate::time::timeout(timeout, &mut send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(SendError(v))) => Err(SendTimeoutError::Closed(v)),
            Err(_) => Err(SendTimeoutError::Timeout(send.value.take().expect("not sent"))),
        }
    }

    /// [`send`](Self::send) for synchronous code: suspends the fiber (only the fiber) on a
    /// fiber, parks the thread otherwise. Unlike tokio's, it may be called inside a task.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone.
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        crate::wait(self.send(value))
    }

    /// Completes when the receiver is dropped or closed.
    pub async fn closed(&self) {
        self.chan.closed().await
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The free slots now.
    pub fn capacity(&self) -> usize {
        self.chan.free()
    }

    /// The channel's buffer size.
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// The receiving half of a bounded channel.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("len", &self.chan.len()).finish()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        // Drop the queued messages now (not when the last sender goes).
        let q = std::mem::take(&mut lock(&self.chan.state).queue);
        drop(q);
    }
}

/// The future of `recv`.
struct Recv<'a, T> {
    chan: &'a Chan<T>,
}
impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }
}

macro_rules! receiver_methods {
    () => {
        /// Receives the next message, waiting (suspended) for one; `None` once every sender
        /// is gone (or the channel was closed) and the buffer is empty. Cancel-safe.
        pub async fn recv(&mut self) -> Option<T> {
            Recv { chan: &self.chan }.await
        }

        /// A message if one is queued now.
        ///
        /// # Errors
        /// [`TryRecvError::Empty`], or [`TryRecvError::Disconnected`] once every sender is
        /// gone (or the channel was closed) and the buffer is empty.
        pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
            self.chan.try_recv()
        }

        /// [`recv`](Self::recv) for synchronous code: suspends the fiber (only the fiber) on a
        /// fiber, parks the thread otherwise. Unlike tokio's, it may be called inside a task.
        ///
        /// # Panics
        /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
        pub fn blocking_recv(&mut self) -> Option<T> {
            crate::wait(self.recv())
        }

        /// Closes the channel: sends fail from now on; queued messages can still be received.
        pub fn close(&mut self) {
            self.chan.close()
        }

        /// Polls for the next message (for hand-written futures).
        pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.chan.poll_recv(cx)
        }

        /// The number of queued messages.
        pub fn len(&self) -> usize {
            self.chan.len()
        }

        /// Whether no message is queued.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Whether the channel is closed (by the receiver, or every sender is gone).
        pub fn is_closed(&self) -> bool {
            let st = lock(&self.chan.state);
            st.rx_closed || st.senders == 0
        }
    };
}

impl<T> Receiver<T> {
    receiver_methods!();
}

/// The sending half of an unbounded channel.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender { chan: self.chan.clone() }
    }
}
impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}
impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender").finish()
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once (never waits).
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.push(value).map_err(SendError)
    }
    /// Completes when the receiver is dropped or closed.
    pub async fn closed(&self) {
        self.chan.closed().await
    }
    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// The receiving half of an unbounded channel.
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver").field("len", &self.chan.len()).finish()
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        let q = std::mem::take(&mut lock(&self.chan.state).queue);
        drop(q);
    }
}

impl<T> UnboundedReceiver<T> {
    receiver_methods!();
}
