//! [`JoinError`]: why a task produced no output (it was cancelled, or it panicked). The C
//! runtime's own error codes are [`crate::Error`] (src/error.rs).
use std::any::Any;
use std::fmt;

/// Why a task produced no output: it was cancelled, or it panicked (the panic is caught on the
/// fiber and carried here, never unwinding into the C runtime).
pub struct JoinError {
    repr: JoinRepr,
    name: Option<&'static str>,
}

enum JoinRepr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// The error of a cancelled task named `name`.
    #[inline]
    pub(super) fn cancelled(name: Option<&'static str>) -> JoinError {
        JoinError { repr: JoinRepr::Cancelled, name }
    }
    /// The error of a task named `name` that panicked with payload `p`.
    #[inline]
    pub(super) fn panicked(p: Box<dyn Any + Send + 'static>, name: Option<&'static str>) -> JoinError {
        JoinError { repr: JoinRepr::Panic(p), name }
    }

    /// The task's name, if it was spawned with [`SpawnBuilder::name`](crate::SpawnBuilder::name).
    pub fn name(&self) -> Option<&'static str> {
        self.name
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
            r => Err(JoinError { repr: r, name: self.name }),
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
        match (&self.repr, self.name) {
            (JoinRepr::Cancelled, None) => f.write_str("JoinError::Cancelled"),
            (JoinRepr::Cancelled, Some(n)) => write!(f, "JoinError::Cancelled({:?})", n),
            (JoinRepr::Panic(p), None) => write!(f, "JoinError::Panic({:?})", panic_msg(&**p)),
            (JoinRepr::Panic(p), Some(n)) => write!(f, "JoinError::Panic({:?}, {:?})", n, panic_msg(&**p)),
        }
    }
}
impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task ")?;
        if let Some(n) = self.name {
            write!(f, "'{}' ", n)?;
        }
        match &self.repr {
            JoinRepr::Cancelled => f.write_str("was cancelled"),
            JoinRepr::Panic(p) => write!(f, "panicked: {}", panic_msg(&**p)),
        }
    }
}
impl std::error::Error for JoinError {}
