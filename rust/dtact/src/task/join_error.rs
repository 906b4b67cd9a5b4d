//! [`JoinError`]: why a task produced no output (it was cancelled, or it panicked). The C
//! runtime's own error codes are [`crate::Error`] (src/error.rs).
use std::any::Any;
use std::fmt;

/// Why a task produced no output: it was cancelled, or it panicked (the panic is caught on the
/// fiber and carried here, never unwinding into the C runtime).
pub struct JoinError {
    repr: JoinRepr,
}

enum JoinRepr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// The error of a cancelled task.
    #[inline]
    pub(super) fn cancelled() -> JoinError {
        JoinError { repr: JoinRepr::Cancelled }
    }
    /// The error of a task that panicked with payload `p`.
    #[inline]
    pub(super) fn panicked(p: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { repr: JoinRepr::Panic(p) }
    }

    /// Whether the task was cancelled: aborted, or dropped at shutdown before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, JoinRepr::Cancelled)
    }
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinRepr::Panic(_))
    }
    /// The panic payload (to resume the panic with `std::panic::resume_unwind`, for example).
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().unwrap_or_else(|_| panic!("JoinError::into_panic: the task was cancelled, it did not panic"))
    }
    /// The panic payload.
    ///
    /// # Errors
    /// The error itself, back, if the task was cancelled rather than panicking.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            JoinRepr::Panic(p) => Ok(p),
            r => Err(JoinError { repr: r }),
        }
    }
}

/// The message of a `&str` or `String` panic payload.
fn panic_msg(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinRepr::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinRepr::Panic(p) => write!(f, "JoinError::Panic({:?})", panic_msg(&**p)),
        }
    }
}
impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinRepr::Cancelled => f.write_str("task was cancelled"),
            JoinRepr::Panic(p) => write!(f, "task panicked: {}", panic_msg(&**p)),
        }
    }
}
impl std::error::Error for JoinError {}
