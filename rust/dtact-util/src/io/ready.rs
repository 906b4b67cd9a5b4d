//! Readiness for async sockets, through the Dtact C runtime's reactor and its public API only.
//!
//! The reactor's primitive, `dtact_wait_fd(fd, events, timeout)`, suspends the calling fiber
//! until the fd is ready. A future cannot call it (it would block its whole task, and with it
//! every other future that task polls, in a `select`/`join` combinator or under a timeout), so
//! each socket has, per direction (read, write), a **watcher**: a small detached fiber (64 KiB
//! stack class), started the first time an operation in that direction would block, that loops
//! on `dtact_wait_fd(fd, READ or WRITE, forever)` and wakes every waker registered for that
//! direction at each readiness edge. Cost: one small fiber per socket direction that has ever
//! blocked, and one extra fiber switch per readiness edge (the reactor watches an fd for both
//! directions at once, so a write watcher, once started, also wakes at read edges while the
//! socket is writable, and finds nobody to wake).
//!
//! No edge is lost: an operation that would block first registers its task's waker (under the
//! direction's lock) and then retries the operation once; only if that retry would block too does
//! the future return `Pending`. An edge that comes after the retry finds the watcher waiting (it
//! wakes the waker) or busy (the reactor keeps the edge as a token, which the watcher's next wait
//! consumes at once). The watcher takes the wakers out of the list when it wakes them, so each
//! registration is one wake-up; a future that is still pending registers again. A registration
//! has an id held by its future: dropping a pending future removes its waker, and a waker already
//! taken by the watcher is an owned `Waker` clone, so a late wake is at worst spurious, never
//! unsafe. Any number of futures may wait on one direction (for example several tasks sending
//! on one shared UDP socket).
//!
//! Closing. A watcher may be just about to call `dtact_wait_fd` when its socket is dropped; if
//! the fd were closed then and its number reused by a new socket, the stale watcher would wait
//! on (and take the readiness tokens of) that new socket. So the fd number is owned by the state
//! shared with the watchers ([`Core`]) while any watcher lives. Dropping a socket whose watchers
//! live marks it closed, then `dup2`s `/dev/null` over the fd (the socket itself is released at
//! once, so the peer sees the close, and the number stays taken), then `dtact_fd_cancel`s it: a
//! watcher waiting is woken (`DTACT_ECLOSED`), and a watcher that waits after that finds a file
//! the reactor cannot watch, which is always ready; either way it sees the mark and exits, and
//! the last one closes the number. A socket without a live watcher is cancelled and closed at
//! once.
//!
//! If the reactor refuses the fd (`dtact_wait_fd` fails other than by shutdown or a cancel), the
//! watcher stops, its waiters are woken, and that direction's operations fail with the code from
//! then on (no watcher is started again).
//!
//! Runtime shutdown wakes the watchers with `DTACT_ESHUTDOWN`: they exit and wake their waiters,
//! which then fail to start a new watcher and return the error. Without a runtime (a future
//! polled on a plain thread with no `dtact::Runtime` alive) an operation that would block
//! returns the runtime's `NotInitialized` error as an `io::Error`.
use std::ffi::c_void;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::mem::ManuallyDrop;
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::{Context, Poll, Waker};

use dtact_sys as sys;

pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;
const WATCHER_STACK: u32 = 64 * 1024;

/// The waiters of one direction.
#[derive(Default)]
struct Dir {
    waiters: Vec<(u64, Waker)>,
    next_id: u64,
    watching: bool,
    /// The code a watcher stopped with when the reactor refused the fd (not shutdown): later
    /// waits fail with it instead of starting watcher after watcher.
    failed: i32,
}

/// The state shared by a socket and its watchers.
pub(crate) struct Core {
    fd: RawFd,
    closed: AtomicBool,
    /// Set when the socket handed the fd number over (retired): the last `Core` closes it.
    owns_fd: AtomicBool,
    dirs: [Mutex<Dir>; 2],
}

fn lock(m: &Mutex<Dir>) -> MutexGuard<'_, Dir> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake_all(list: &mut Vec<(u64, Waker)>) {
    for (_, w) in list.drain(..) {
        w.wake();
    }
}

impl Core {
    /// Registers `waker` for direction `d` under `token` (updating it, or adding a new entry),
    /// and makes sure a watcher runs for `d`.
    fn register(self: &Arc<Self>, d: usize, token: &mut Option<u64>, waker: &Waker) -> io::Result<()> {
        let start = {
            let mut g = lock(&self.dirs[d]);
            if g.failed != 0 {
                return Err(dtact::net::io_error(g.failed));
            }
            let pos = token.and_then(|id| g.waiters.iter().position(|e| e.0 == id));
            match pos {
                Some(i) => {
                    if !g.waiters[i].1.will_wake(waker) {
                        g.waiters[i].1 = waker.clone();
                    }
                }
                None => {
                    g.next_id += 1;
                    let id = g.next_id;
                    g.waiters.push((id, waker.clone()));
                    *token = Some(id);
                }
            }
            let start = !g.watching;
            g.watching = true;
            start
        };
        if start {
            if let Err(e) = spawn_watcher(self.clone(), d) {
                // No watcher: undo ours, and let the others retry (and fail) on their own.
                let mut others = {
                    let mut g = lock(&self.dirs[d]);
                    g.watching = false;
                    std::mem::take(&mut g.waiters)
                };
                others.retain(|e| Some(e.0) != *token);
                *token = None;
                wake_all(&mut others);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes the registration of `token` (if the watcher has not taken it already).
    fn deregister(&self, d: usize, token: &mut Option<u64>) {
        if let Some(id) = token.take() {
            let mut g = lock(&self.dirs[d]);
            if let Some(i) = g.waiters.iter().position(|e| e.0 == id) {
                g.waiters.swap_remove(i);
            }
        }
    }

    /// The watcher's loop (on its fiber).
    fn watch(&self, d: usize) {
        let rc = self.watch_loop(d);
        if rc != sys::DTACT_OK && rc != sys::DTACT_ESHUTDOWN && !self.closed.load(Ordering::Acquire) {
            lock(&self.dirs[d]).failed = rc;
        }
    }

    /// Waits and wakes until the socket is closed (OK) or the reactor says no (its code).
    fn watch_loop(&self, d: usize) -> i32 {
        let bit = if d == READ { sys::DTACT_IO_READ } else { sys::DTACT_IO_WRITE } as u32;
        let mut local = Vec::new();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return sys::DTACT_OK;
            }
            // SAFETY: dtact_wait_fd takes any fd value; `fd` stays allocated (this Core owns the
            // number once the socket is gone) while this watcher holds the Core.
            let rc = unsafe { sys::dtact_wait_fd(self.fd, bit, -1) };
            if rc > 0 || rc == sys::DTACT_ECLOSED {
                std::mem::swap(&mut lock(&self.dirs[d]).waiters, &mut local);
                wake_all(&mut local);
                continue;
            }
            return rc; // ESHUTDOWN, or an fd the reactor rejects: stop (the waiters are woken)
        }
    }

    /// The watcher of `d` ended (or never ran): wakes everyone still registered.
    fn watcher_exit(&self, d: usize) {
        let mut all = {
            let mut g = lock(&self.dirs[d]);
            g.watching = false;
            std::mem::take(&mut g.waiters)
        };
        wake_all(&mut all);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if self.owns_fd.load(Ordering::Acquire) {
            // SAFETY: the socket handed the number over (retire): nobody else uses it; it now
            // refers to /dev/null (or the fallback), which the reactor never watched.
            unsafe {
                sys::dtact_fd_cancel(self.fd);
                drop(File::from_raw_fd(self.fd));
            }
        }
    }
}

/// What a watcher fiber gets: its Core and direction (boxed; freed by the cleanup).
struct WatchArg {
    core: Arc<Core>,
    dir: usize,
}

/// The watcher fiber.
///
/// # Safety
/// `p` is the `Box<WatchArg>` made by `spawn_watcher`, alive until `watch_cleanup`.
unsafe extern "C" fn watch_main(p: *mut c_void) -> *mut c_void {
    // SAFETY: as the function's contract says; only read here.
    let a = unsafe { &*(p as *const WatchArg) };
    a.core.watch(a.dir);
    std::ptr::null_mut()
}

/// Runs once after `watch_main` returned, or instead of it if the fiber was cancelled before it
/// ran (shutdown): marks the direction unwatched, wakes its waiters, frees the argument.
///
/// # Safety
/// `p` is the `Box<WatchArg>` made by `spawn_watcher`; called once, last.
unsafe extern "C" fn watch_cleanup(p: *mut c_void) {
    // SAFETY: as the function's contract says: the Box is ours now, freed here once.
    let a = unsafe { Box::from_raw(p as *mut WatchArg) };
    a.core.watcher_exit(a.dir);
}

fn spawn_watcher(core: Arc<Core>, dir: usize) -> io::Result<()> {
    let arg = Box::into_raw(Box::new(WatchArg { core, dir }));
    // SAFETY: dtact_spawn_attr_init fills the struct completely.
    let mut attr: sys::dtact_spawn_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: `attr` is a valid, writable attr.
    unsafe { sys::dtact_spawn_attr_init(&mut attr) };
    attr.stack_size = WATCHER_STACK;
    attr.options.mKind = sys::DTACT_KIND_IO as u8;
    attr.options.mSwitcher = sys::DTACT_SWITCHER_CROSS_THREAD_NO_FLOAT as u8;
    attr.cleanup = Some(watch_cleanup);
    let mut h: sys::dtact_handle_t = 0;
    // SAFETY: `arg` is a valid Box pointer; on success the fiber owns it (watch_main reads it,
    // watch_cleanup frees it, once); on failure neither runs and we free it below.
    let rc = unsafe { sys::dtact_spawn(&mut h, Some(watch_main), arg as *mut c_void, &attr) };
    if rc == sys::DTACT_OK {
        return Ok(());
    }
    // SAFETY: the spawn failed: the Box is still ours alone.
    drop(unsafe { Box::from_raw(arg) });
    Err(dtact::net::io_error(rc))
}

/// The always-ready file that retired fds point to: /dev/null (the reactor cannot watch it, so
/// every wait on it returns at once), or a shut-down socket pair end where /dev/null is missing.
fn null_fd() -> io::Result<RawFd> {
    static ONCE: Once = Once::new();
    static FD: AtomicI32 = AtomicI32::new(-1);
    ONCE.call_once(|| {
        let fd = match File::open("/dev/null") {
            Ok(f) => f.into_raw_fd(),
            Err(_) => match std::os::unix::net::UnixStream::pair() {
                Ok((a, _b)) => {
                    let _ = a.shutdown(std::net::Shutdown::Both);
                    a.into_raw_fd()
                }
                Err(_) => -1,
            },
        };
        FD.store(fd, Ordering::Release);
    });
    match FD.load(Ordering::Acquire) {
        -1 => Err(io::Error::new(ErrorKind::Other, "dtact-util: no always-ready file to retire sockets with")),
        fd => Ok(fd),
    }
}

/// A non-blocking socket and its readiness state. Dropping it closes the socket (see the
/// module documentation for how the watchers are ended).
pub(crate) struct Io<S: AsRawFd> {
    sock: ManuallyDrop<S>,
    core: Arc<Core>,
}

impl<S: AsRawFd> Io<S> {
    /// Wraps `sock`, which must be non-blocking already.
    pub(crate) fn new(sock: S) -> Io<S> {
        let core = Arc::new(Core {
            fd: sock.as_raw_fd(),
            closed: AtomicBool::new(false),
            owns_fd: AtomicBool::new(false),
            dirs: [Mutex::new(Dir::default()), Mutex::new(Dir::default())],
        });
        Io { sock: ManuallyDrop::new(sock), core }
    }

    pub(crate) fn get(&self) -> &S {
        &self.sock
    }

    /// Polls the non-blocking `op` for direction `d`: its result, or `Pending` with the waker
    /// registered under `token` (a pending future keeps `token`, and must call
    /// [`Io::clear`] when dropped).
    pub(crate) fn poll_io<R>(
        &self,
        d: usize,
        token: &mut Option<u64>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut registered = false;
        loop {
            match op(&self.sock) {
                Err(ref e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(ref e) if e.kind() == ErrorKind::Interrupted => continue,
                r => {
                    self.clear(d, token);
                    return Poll::Ready(r);
                }
            }
            if registered {
                return Poll::Pending;
            }
            if let Err(e) = self.core.register(d, token, cx.waker()) {
                return Poll::Ready(Err(e));
            }
            registered = true; // retry once: an edge between the try and the registration counts
        }
    }

    /// Drops the registration of `token`, if any.
    pub(crate) fn clear(&self, d: usize, token: &mut Option<u64>) {
        if token.is_some() {
            self.core.deregister(d, token);
        }
    }

    /// A future running `op` in direction `d` until it does not block.
    pub(crate) fn op<R, F: FnMut(&S) -> io::Result<R> + Unpin>(&self, d: usize, f: F) -> Op<'_, S, F> {
        Op { io: self, d, token: None, f }
    }
}

impl<S: AsRawFd> Drop for Io<S> {
    fn drop(&mut self) {
        let fd = self.sock.as_raw_fd();
        self.core.closed.store(true, Ordering::Release);
        if Arc::strong_count(&self.core) > 1 {
            // A watcher may be about to wait on fd: retire the socket but keep the number,
            // which the Core closes when the last watcher is gone. If even that fails, keep the
            // socket open forever rather than let a watcher wait on a reused number.
            // SAFETY: we own fd (the socket); dup2 releases the socket and keeps the number.
            let _ = null_fd().and_then(|n| unsafe { dtact::net::raw::replace_fd(n, fd) });
            self.core.owns_fd.store(true, Ordering::Release);
            // SAFETY: dtact_fd_cancel takes any fd value. The socket value is forgotten: its
            // number now belongs to the Core.
            unsafe { sys::dtact_fd_cancel(fd) };
        } else {
            // SAFETY: no watcher: cancel (unwatch) and close the socket, once.
            unsafe {
                sys::dtact_fd_cancel(fd);
                ManuallyDrop::drop(&mut self.sock);
            }
        }
    }
}

/// The future of [`Io::op`]; dropping it while pending removes its waker.
pub(crate) struct Op<'a, S: AsRawFd, F> {
    io: &'a Io<S>,
    d: usize,
    token: Option<u64>,
    f: F,
}

impl<S: AsRawFd, R, F: FnMut(&S) -> io::Result<R> + Unpin> std::future::Future for Op<'_, S, F> {
    type Output = io::Result<R>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.get_mut();
        this.io.poll_io(this.d, &mut this.token, cx, &mut this.f)
    }
}

impl<S: AsRawFd, F> Drop for Op<'_, S, F> {
    fn drop(&mut self) {
        self.io.clear(self.d, &mut self.token);
    }
}
