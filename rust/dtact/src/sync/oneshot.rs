//! A one-shot channel: one value, from one [`Sender`] to one [`Receiver`] (tokio's API). The
//! receiver is a future; `blocking_recv` serves synchronous code.
//!
//! ```
//! use dtact::sync::oneshot;
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let (tx, rx) = oneshot::channel();
//! dtact::spawn(async move { tx.send(5).unwrap(); });
//! assert_eq!(rt.block_on(rx), Ok(5));
//! let (tx, rx) = oneshot::channel::<u8>();
//! drop(tx);
//! assert!(rx.blocking_recv().is_err());
//! ```
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::waiters::lock;

/// The channel's errors.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());
    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl std::error::Error for RecvError {}

    /// Why `try_recv` returned nothing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// Not sent yet.
        Empty,
        /// The sender was dropped without sending (or the value was already taken).
        Closed,
    }
    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
            }
        }
    }
    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

struct State<T> {
    value: Option<T>,
    /// The sender sent or was dropped.
    tx_done: bool,
    /// The receiver closed or was dropped.
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

/// A one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State { value: None, tx_done: false, rx_closed: false, rx_waker: None, tx_waker: None }),
    });
    (Sender { inner: Some(inner.clone()) }, Receiver { inner: Some(inner) })
}

/// Sends the one value.
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish()
    }
}

impl<T> Sender<T> {
    /// Sends `value`; it is received unless the receiver is gone.
    ///
    /// # Errors
    /// The value back if the receiver was dropped or closed.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("sender used once");
        let w = {
            let mut st = lock(&inner.state);
            if st.rx_closed {
                st.tx_done = true;
                return Err(value);
            }
            st.value = Some(value);
            st.tx_done = true;
            st.rx_waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().map_or(true, |i| lock(&i.state).rx_closed)
    }

    /// Polls for the receiver going away.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = match &self.inner {
            Some(i) => i,
            None => return Poll::Ready(()),
        };
        let mut st = lock(&inner.state);
        if st.rx_closed {
            return Poll::Ready(());
        }
        match &st.tx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.tx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Completes when the receiver is dropped or closed.
    pub async fn closed(&mut self) {
        Closed { tx: self }.await
    }
}

struct Closed<'a, T> {
    tx: &'a mut Sender<T>,
}
impl<T> Future for Closed<'_, T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.tx.poll_closed(cx)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let w = {
                let mut st = lock(&inner.state);
                st.tx_done = true;
                st.rx_waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

/// Receives the one value: `.await` it (a future of `Result<T, RecvError>`), or
/// [`try_recv`](Receiver::try_recv), or [`blocking_recv`](Receiver::blocking_recv).
pub struct Receiver<T> {
    inner: Option<Arc<Inner<T>>>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish()
    }
}

impl<T> Receiver<T> {
    /// The value if it was sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if not sent yet, [`TryRecvError::Closed`] if the sender is gone
    /// without sending or the value was already taken.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let inner = match &self.inner {
            Some(i) => i,
            None => return Err(TryRecvError::Closed),
        };
        let r = {
            let mut st = lock(&inner.state);
            match st.value.take() {
                Some(v) => Ok(v),
                None if st.tx_done => Err(TryRecvError::Closed),
                None => return Err(TryRecvError::Empty),
            }
        };
        self.inner = None;
        r
    }

    /// Waits for the value in synchronous code: suspends the fiber (only the fiber) on a fiber,
    /// parks the thread otherwise. Unlike tokio's, it may be called inside a task.
    ///
    /// # Errors
    /// [`RecvError`] if the sender was dropped without sending.
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::wait(self)
    }

    /// Closes the channel: a later `send` fails; a value already sent can still be received.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            let w = {
                let mut st = lock(&inner.state);
                st.rx_closed = true;
                st.tx_waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = match &self.inner {
            Some(i) => i,
            None => panic!("dtact::sync::oneshot::Receiver polled after completion"),
        };
        let r = {
            let mut st = lock(&inner.state);
            match st.value.take() {
                Some(v) => Ok(v),
                None if st.tx_done => Err(RecvError(())),
                None => {
                    match &st.rx_waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => st.rx_waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        };
        self.inner = None;
        Poll::Ready(r)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let (w, v) = {
                let mut st = lock(&inner.state);
                st.rx_closed = true;
                (st.tx_waker.take(), st.value.take())
            };
            drop(v);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}
