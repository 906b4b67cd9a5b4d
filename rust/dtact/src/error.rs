//! [`Error`]: the C runtime's error codes (`DTACT_E*`). Why a task produced no output is a
//! different error, [`JoinError`](crate::JoinError) (src/task/join_error.rs).
use std::ffi::CStr;
use std::fmt;

use dtact_sys as sys;

/// A C error code of the Dtact runtime (`DTACT_E*`). `Display` prints `dtact_strerror`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// DTACT_EINVAL: an argument or option code is out of range.
    InvalidArgument,
    /// DTACT_ENOTINIT: no runtime exists.
    NotInitialized,
    /// DTACT_EALREADY: a runtime already exists or is already running (the C runtime is process-global).
    AlreadyInitialized,
    /// DTACT_EHANDLE: the handle was never issued.
    BadHandle,
    /// DTACT_ENULLFN.
    NullFunction,
    /// DTACT_ECONFIG: invalid configuration value.
    Config,
    /// DTACT_EEXHAUSTED: the fiber or stack pool is exhausted.
    Exhausted,
    /// DTACT_ESHUTDOWN: the runtime is shutting down.
    Shutdown,
    /// DTACT_ETIMEDOUT.
    TimedOut,
    /// DTACT_EDEADLK: a fiber awaited itself.
    Deadlock,
    /// DTACT_ECANCELED: the fiber was cancelled before it ran.
    Cancelled,
    /// DTACT_ENOMEM.
    OutOfMemory,
    /// DTACT_ESTALE.
    Stale,
    /// DTACT_EPERM: not allowed from this context (fiber vs host thread).
    NotPermitted,
    /// DTACT_ESYS: a system call failed.
    System,
    /// DTACT_ENOTRUNNING: the workers are not running and the call would block forever.
    NotRunning,
    /// Any other code (a newer library).
    Other(i32),
}

impl Error {
    /// Maps a negative C code; `None` for `DTACT_OK`.
    pub fn from_code(code: i32) -> Option<Error> {
        Some(match code {
            sys::DTACT_OK => return None,
            sys::DTACT_EINVAL => Error::InvalidArgument,
            sys::DTACT_ENOTINIT => Error::NotInitialized,
            sys::DTACT_EALREADY => Error::AlreadyInitialized,
            sys::DTACT_EHANDLE => Error::BadHandle,
            sys::DTACT_ENULLFN => Error::NullFunction,
            sys::DTACT_ECONFIG => Error::Config,
            sys::DTACT_EEXHAUSTED => Error::Exhausted,
            sys::DTACT_ESHUTDOWN => Error::Shutdown,
            sys::DTACT_ETIMEDOUT => Error::TimedOut,
            sys::DTACT_EDEADLK => Error::Deadlock,
            sys::DTACT_ECANCELED => Error::Cancelled,
            sys::DTACT_ENOMEM => Error::OutOfMemory,
            sys::DTACT_ESTALE => Error::Stale,
            sys::DTACT_EPERM => Error::NotPermitted,
            sys::DTACT_ESYS => Error::System,
            sys::DTACT_ENOTRUNNING => Error::NotRunning,
            c => Error::Other(c),
        })
    }

    /// The C code (`DTACT_E*`).
    pub fn code(self) -> i32 {
        match self {
            Error::InvalidArgument => sys::DTACT_EINVAL,
            Error::NotInitialized => sys::DTACT_ENOTINIT,
            Error::AlreadyInitialized => sys::DTACT_EALREADY,
            Error::BadHandle => sys::DTACT_EHANDLE,
            Error::NullFunction => sys::DTACT_ENULLFN,
            Error::Config => sys::DTACT_ECONFIG,
            Error::Exhausted => sys::DTACT_EEXHAUSTED,
            Error::Shutdown => sys::DTACT_ESHUTDOWN,
            Error::TimedOut => sys::DTACT_ETIMEDOUT,
            Error::Deadlock => sys::DTACT_EDEADLK,
            Error::Cancelled => sys::DTACT_ECANCELED,
            Error::OutOfMemory => sys::DTACT_ENOMEM,
            Error::Stale => sys::DTACT_ESTALE,
            Error::NotPermitted => sys::DTACT_EPERM,
            Error::System => sys::DTACT_ESYS,
            Error::NotRunning => sys::DTACT_ENOTRUNNING,
            Error::Other(c) => c,
        }
    }

    /// `dtact_last_error()` of this thread as an `Error` (InvalidArgument if none was left).
    pub(crate) fn last() -> Error {
        // SAFETY: dtact_last_error has no preconditions (it reads a thread-local code).
        Error::from_code(unsafe { sys::dtact_last_error() }).unwrap_or(Error::InvalidArgument)
    }
}

/// `Ok(())` for DTACT_OK, else the mapped error.
pub(crate) fn check(code: i32) -> Result<(), Error> {
    match Error::from_code(code) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: dtact_strerror returns a static, never-NULL, NUL-terminated string for any code
        // (ffi/include/dtact.h), so it is valid for the whole program.
        let s = unsafe { CStr::from_ptr(sys::dtact_strerror(self.code())) };
        write!(f, "{} ({})", s.to_string_lossy(), self.code())
    }
}

impl std::error::Error for Error {}
