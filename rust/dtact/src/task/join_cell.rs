//! The join cell: one small heap block per task, shared by the task and its
//! [`JoinHandle`](super::JoinHandle), holding the output (or panic / cancellation), the
//! awaiting task's waker, the fiber's handle and one state word. Every hand-off is a transition
//! of that word, so the common cases cost one atomic operation per side: the task publishes its
//! output and lets go of the cell with one CAS, and a handle that finds the task finished reads
//! the output and frees the cell with no atomic read-modify-write at all. Blocks come from the
//! worker threads' cache (`crate::pool`).
//!
//! # The state word
//!
//! | bit          | set by                            | cleared by                            |
//! |--------------|-----------------------------------|---------------------------------------|
//! | `COMPLETE`   | the task, once the result is in   | never                                 |
//! | `WAKER`      | the handle, after storing a waker | the handle, to replace the waker      |
//! | `CANCEL`     | `JoinHandle::abort`               | never (read by the task)              |
//! | `TASK_REF`   | the spawn                         | the task, letting go of the cell      |
//! | `HANDLE_REF` | the spawn                         | the handle, letting go of the cell    |
//! | `TAKEN`      | the handle, with its `HANDLE_REF` | never (tells the freer: output moved) |
//!
//! Transitions (`T` = TASK_REF, `H` = HANDLE_REF, `W` = WAKER, `C` = COMPLETE; CANCEL, which
//! can be set at any time, is left out):
//!
//! ```text
//!  spawn --> T|H --- handle: store waker, set W (fetch_or) ---> T|H|W
//!             |  <-- handle: clear W to replace it (CAS) -----   |
//!             |                                                  |
//!             | task: set C, clear T (one CAS)                   | task: set C (one CAS), wake the
//!             v                                                  v waker, clear T (fetch_and)
//!            H|C                                              T|H|W|C ----------> H|W|C
//!             |                                                  |                 |
//!             | handle: take the output, free the cell           | handle lets go  | handle: take
//!             v (plain load: T is clear, no RMW)                 v first (below)   v the output, free
//!          (freed)                                                              (freed)
//!
//!  detach:      T|H -> T, T|H|W -> T|W (handle dropped: clears H). The task's completion then
//!               sees H clear and frees the cell itself, dropping the result unread.
//!  handle last: H|C or H|W|C, dropped without taking the output: the handle frees the cell and
//!               drops the result.
//!  both held:   the handle lets go while T is set (T|H|W|C): it clears H and, if it took the
//!               output, sets TAKEN, in one RMW; the task's fetch_and then sees H clear and frees
//!               the cell, dropping the result only if TAKEN is clear.
//! ```
//!
//! # Ownership rules
//! - `result` belongs to the task until it sets COMPLETE, then to the handle.
//! - `waker` is initialised exactly while WAKER is set (so a spawn does not write it). It belongs
//!   to the handle while WAKER is clear and COMPLETE is clear. The handle writes it, then sets
//!   WAKER; to replace it, the handle clears WAKER first (a CAS that fails once COMPLETE is set)
//!   and drops the old one. While WAKER is set the slot is only read: by the handle
//!   (`will_wake`) and by the task, which wakes it if its own COMPLETE transition saw WAKER. A
//!   stored waker is dropped with the cell.
//! - `fiber` is written once, by the spawn, before the handle exists; then only read, by the
//!   handle's owner.
//! - TASK_REF / HANDLE_REF: each side clears its bit when it lets go of the cell; whoever clears
//!   the last one frees it. TAKEN tells that freer that the output was moved out already.
use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use dtact_sys as sys;

use super::join_error::JoinError;
use crate::pool;

/// The task has stored its result.
const COMPLETE: usize = 1;
/// A waker is stored in `waker`.
const WAKER: usize = 2;
/// `abort` was called.
const CANCEL: usize = 4;
/// The task still uses the cell.
const TASK_REF: usize = 8;
/// The JoinHandle still exists.
const HANDLE_REF: usize = 16;
/// The handle moved the result out.
const TAKEN: usize = 32;
/// Set at creation, never changed: the cell is a pooled block that also held the task's future
/// ([`CellPtr::new_resident`]); its size class is `RESIDENT_CLASS1`'s.
const RESIDENT: usize = 64;
/// With `RESIDENT`: the block is of the pool's second size class (else the first).
const RESIDENT_CLASS1: usize = 128;

/// `repr(C)`, 32 bytes of header (waker, fiber handle, state word) and then the slot, which holds
/// the result once the task completed and, in a resident cell ([`CellPtr::new_resident`]), the
/// task's own state `P` (its future) before that. Every user but the resident task's trampolines
/// sees the cell as `JoinCell<T>` (`P = ()`): the slot starts at offset 32 in both layouts, as
/// long as the slot's alignment is at most 32 (checked by `resident_fits`).
///
/// The order puts what a spawn, a task that completes without waiting and an await of a finished
/// task touch (the fiber handle, the state word, the slot: 24 bytes for a small future and
/// output) next to each other, so that in three blocks out of four (blocks are 16-byte aligned)
/// they share one cache line, which moves between the spawning and the running core once
/// instead of twice. The waker, written only when the handle waits, comes first.
///
/// The error is boxed: a `JoinError` (32 bytes, and it leaves `Result<(), JoinError>` no niche,
/// so that one is 40) would make the cell of a `()` task 72 bytes, over the pool's 64-byte class,
/// and double the memory of every outstanding task. Errors (a panic, which allocates its payload
/// anyway, or a cancellation) are rare.
#[repr(C)]
pub(super) struct JoinCell<T, P = ()> {
    /// Initialised exactly while WAKER is set.
    waker: UnsafeCell<MaybeUninit<Waker>>,
    /// The fiber's handle: written by the spawn (its `out` argument, before the fiber can run),
    /// then only read: by the handle's owner, and once by the task when it starts (its runner's
    /// waker), on the line the task touches anyway.
    fiber: UnsafeCell<sys::dtact_handle_t>,
    state: AtomicUsize,
    slot: UnsafeCell<Slot<T, P>>,
}

/// The result, or (resident cells, before completion) the task's state.
#[repr(C)]
pub(super) union Slot<T, P> {
    result: ManuallyDrop<MaybeUninit<Result<T, Box<JoinError>>>>,
    task: ManuallyDrop<MaybeUninit<P>>,
}

/// Whether a resident cell holding task state `P` fits a pooled block with the slot where a
/// `JoinCell<T>` has it; the pooled class's layout if so.
#[inline]
pub(super) fn resident_layout<T, P>() -> Option<Layout> {
    if mem::align_of::<Slot<T, P>>() > 16 {
        return None;
    }
    pool::class_layout(Layout::new::<JoinCell<T, P>>())
}

/// A pointer to a live join cell, held by the task (in its `TaskState`) or by its JoinHandle.
/// Not `Copy`: the methods that let go of the cell consume it.
pub(super) struct CellPtr<T>(pub(super) NonNull<JoinCell<T>>);

impl<T> CellPtr<T> {
    /// A new cell owned by both the task and the handle (two copies of the returned pointer).
    pub(super) fn new() -> Self {
        let p = pool::alloc(Layout::new::<JoinCell<T>>()).cast::<JoinCell<T>>();
        // SAFETY: pool::alloc returned fresh, unshared memory with the size and alignment of a
        // JoinCell<T>, so writing one there is valid.
        unsafe {
            p.as_ptr().write(JoinCell {
                state: AtomicUsize::new(TASK_REF | HANDLE_REF),
                fiber: UnsafeCell::new(0),
                waker: UnsafeCell::new(MaybeUninit::uninit()),
                slot: UnsafeCell::new(Slot { result: ManuallyDrop::new(MaybeUninit::uninit()) }),
            })
        };
        CellPtr(p)
    }
    /// A new resident cell: a pooled block holding `task` (the task's state, its future) in the
    /// slot until the task completes; owned by both the task and the handle, as [`CellPtr::new`].
    /// `None` (and `task` back) if it does not fit ([`resident_layout`]).
    pub(super) fn new_resident<P>(task: P) -> Result<Self, P> {
        let layout = match resident_layout::<T, P>() {
            Some(l) => l,
            None => return Err(task),
        };
        let p = pool::alloc(layout).cast::<JoinCell<T, P>>();
        // SAFETY: pool::alloc returned fresh, unshared memory of `layout`, which is at least the
        // size and alignment of a JoinCell<T, P> (resident_layout), so writing one there is valid.
        unsafe {
            p.as_ptr().write(JoinCell {
                state: AtomicUsize::new(Self::initial_state::<P>()),
                fiber: UnsafeCell::new(0),
                waker: UnsafeCell::new(MaybeUninit::uninit()),
                slot: UnsafeCell::new(Slot { task: ManuallyDrop::new(MaybeUninit::new(task)) }),
            })
        };
        Ok(CellPtr(p.cast()))
    }
    /// The task state `P` of a resident cell made by `new_resident::<P>`: valid to use (and to
    /// move out of) until the task writes its result ([`CellPtr::complete`]). Task side.
    #[inline]
    pub(super) fn resident_task<P>(&self) -> *mut P {
        // The slot is at the same offset in JoinCell<T, P> as in JoinCell<T> (see JoinCell), and
        // a repr(C) union's fields all start at its start.
        self.cell().slot.get() as *mut P
    }
    /// Another pointer to the same cell (the second reference made by a spawn, or a temporary).
    pub(super) fn copy(&self) -> Self {
        CellPtr(self.0)
    }
    fn cell(&self) -> &JoinCell<T> {
        // SAFETY: a CellPtr exists only while its side's REF bit is set (or, before the spawn
        // succeeded, while the spawner owns both), so the cell is alive and initialised; it is
        // only accessed through shared references (interior mutability).
        unsafe { self.0.as_ref() }
    }
    fn state(&self) -> &AtomicUsize {
        &self.cell().state
    }

    /// Where the spawn writes the fiber's handle (the `out` argument of the C spawn).
    #[inline]
    pub(super) fn fiber_slot(&self) -> *mut sys::dtact_handle_t {
        self.cell().fiber.get()
    }
    /// The fiber's handle, as the spawn wrote it. Handle side, or the task (which the spawn
    /// scheduled after writing the handle: dtact_spawn writes `*out` before the fiber can run).
    #[inline]
    pub(super) fn fiber(&self) -> sys::dtact_handle_t {
        // SAFETY: the slot was written by the spawn before any JoinHandle existed and before the
        // fiber was scheduled (the scheduling hand-off orders it before the task's read), and it
        // is never written again; reads only from here on.
        unsafe { *self.cell().fiber.get() }
    }
    /// Whether the task has stored its result (acquire: the result is visible if so).
    #[inline]
    pub(super) fn is_complete(&self) -> bool {
        self.state().load(Ordering::Acquire) & COMPLETE != 0
    }
    /// The state word of a new cell: `initial_state::<()>()` for [`CellPtr::new`], and
    /// `initial_state::<P>()` for [`CellPtr::new_resident`] with task state `P`.
    #[inline]
    pub(super) fn initial_state<P>() -> usize {
        if mem::size_of::<P>() == 0 {
            return TASK_REF | HANDLE_REF;
        }
        match resident_layout::<T, P>() {
            Some(l) if l.size() > pool::CLASS_SIZES[0] => TASK_REF | HANDLE_REF | RESIDENT | RESIDENT_CLASS1,
            Some(_) => TASK_REF | HANDLE_REF | RESIDENT,
            None => TASK_REF | HANDLE_REF,
        }
    }
    /// Whether `cancel` was called, read once by the task when it starts (task side). `expect`
    /// is the cell's [`CellPtr::initial_state`]. The read is a compare-exchange that expects that
    /// state and leaves the word as it is: unlike a load, it takes the cache line exclusively (a
    /// load takes it shared, and the task's completion, which writes it, then needs a second
    /// coherence round trip to the core that spawned the task).
    #[inline]
    pub(super) fn is_cancelled_at_start(&self, expect: usize) -> bool {
        // order: Acquire: as is_cancelled (pairs with the handle's SeqCst cancel).
        let s = match self.state().compare_exchange(expect, expect, Ordering::Acquire, Ordering::Acquire) {
            Ok(s) | Err(s) => s,
        };
        s & CANCEL != 0
    }
    /// Whether `cancel` was called. Task side.
    #[inline]
    pub(super) fn is_cancelled(&self) -> bool {
        self.state().load(Ordering::Acquire) & CANCEL != 0
    }
    /// Sets CANCEL; returns whether the task had not completed yet (then it must be woken, to
    /// see the flag). Handle side.
    #[inline]
    pub(super) fn cancel(&self) -> bool {
        self.state().fetch_or(CANCEL, Ordering::SeqCst) & COMPLETE == 0
    }

    /// Frees the cell. `drop_result`: the result was stored and not taken.
    ///
    /// # Safety
    /// The caller cleared the last REF bit (or owns both): nobody else uses the cell. The result
    /// is initialised if `drop_result`.
    pub(super) unsafe fn free(self, drop_result: bool) {
        let p = self.0.as_ptr();
        // order: Relaxed: the RESIDENT bits are set at creation and never change, WAKER no longer
        // changes, and the caller owns the cell (it synchronised with every other user already,
        // and read or wrote the word's last value itself).
        let s = self.state().load(Ordering::Relaxed);
        let layout = if s & RESIDENT == 0 {
            Layout::new::<JoinCell<T>>()
        } else {
            pool::class_block(if s & RESIDENT_CLASS1 != 0 { 1 } else { 0 })
        };
        // SAFETY: by the caller's contract we own the cell; `new` / `new_resident` initialised it
        // in memory from pool::alloc with `layout`, and the result is initialised if
        // `drop_result` (a resident task's state was moved out or dropped by the task before it
        // wrote the result), and the waker is initialised if WAKER is set in the last word (read
        // above: nobody changes it once the last reference is gone). Each part is dropped once (the slot, a union, is not dropped by
        // drop_in_place), then the memory is returned with the layout it was allocated with.
        unsafe {
            if drop_result {
                (*(*p).slot.get_mut().result).assume_init_drop();
            }
            if s & WAKER != 0 {
                (*p).waker.get_mut().assume_init_drop();
            }
            ptr::drop_in_place(p);
            pool::free(self.0.cast(), layout);
        }
    }

    /// Task side, called once: publishes the result, wakes the awaiting handle, lets go of the cell.
    pub(super) fn complete(self, r: Result<T, JoinError>) {
        // SAFETY: the result slot is the task's until it sets COMPLETE (below), and this is the
        // task's only write to it (complete is called once).
        unsafe { (*(*self.cell().slot.get()).result).write(r.map_err(Box::new)) };
        let st = self.state();
        // A first guess for the CAS below (the task read the word when it started, so the line
        // is usually still in this core's cache).
        let mut s = st.load(Ordering::Relaxed);
        loop {
            if s & HANDLE_REF == 0 {
                // Detached: nobody will read the result. The acquire load pairs with the
                // handle's release of its bit (its last writes to the waker slot).
                let _ = st.load(Ordering::Acquire);
                // SAFETY: the handle is gone (HANDLE_REF clear) and we hold the other, last
                // reference; the result was written above. (Runs on the fiber: a panicking
                // destructor of the output must not unwind into C.)
                let _ = catch_unwind(AssertUnwindSafe(|| unsafe { self.free(true) }));
                return;
            }
            let (new, last) = if s & WAKER == 0 { ((s | COMPLETE) & !TASK_REF, true) } else { (s | COMPLETE, false) };
            // AcqRel: release publishes the result; acquire makes a stored waker visible.
            match st.compare_exchange(s, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) if last => return, // the handle owns the cell now
                Ok(_) => break,
                Err(a) => s = a,
            }
        }
        // WAKER was set when we completed: the handle no longer writes the slot (it may still
        // read it), so wake by reference; the waker is dropped with the cell.
        // SAFETY: the cell is alive while TASK_REF is set (still ours); with WAKER set the slot
        // is initialised, with COMPLETE also set it is only read from now on, and the acquire CAS
        // above made the handle's write of it visible.
        let w = unsafe { (*self.cell().waker.get()).assume_init_ref() };
        // A panicking foreign waker must not unwind into the C runtime.
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake_by_ref()));
        let prev = st.fetch_and(!TASK_REF, Ordering::AcqRel);
        if prev & HANDLE_REF == 0 {
            // SAFETY: both bits are clear now and we cleared the last one (the acquire RMW makes
            // the handle's last accesses visible); the result is still there unless TAKEN. (On
            // the fiber, as above.)
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { self.free(prev & TAKEN == 0) }));
        }
    }

    /// Handle side: registers the waker of `cx` and returns `Pending`, or returns `Ready` once
    /// the task has set COMPLETE (seen with acquire ordering: the result is visible; the caller
    /// then takes it with [`CellPtr::take_output`]).
    #[inline]
    pub(super) fn poll_complete(&self, cx: &mut Context<'_>) -> Poll<()> {
        let st = self.state();
        let mut s = st.load(Ordering::Acquire);
        if s & COMPLETE != 0 {
            return Poll::Ready(());
        }
        let slot = self.cell().waker.get();
        if s & WAKER != 0 {
            // SAFETY: while WAKER is set the stored waker is initialised and only read (by us or
            // the task), so a shared reference to it is sound; we are the only writer, and we do
            // not write here.
            let same = unsafe { (*slot).assume_init_ref() }.will_wake(cx.waker());
            if same {
                return Poll::Pending;
            }
            // Take the slot back to replace the waker.
            loop {
                if s & COMPLETE != 0 {
                    return Poll::Ready(());
                }
                match st.compare_exchange_weak(s, s & !WAKER, Ordering::Acquire, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(a) => s = a,
                }
            }
            // SAFETY: our CAS cleared WAKER before COMPLETE was set: the slot, still holding the
            // old waker, is the handle's alone again (the task will not read it); drop that one.
            unsafe { (*slot).assume_init_drop() };
        }
        // SAFETY: WAKER and COMPLETE are clear (our CAS cleared WAKER before COMPLETE was set, or
        // it was never set): the slot belongs to the handle, uninitialised, and the task does not
        // read it.
        unsafe { (*slot).write(cx.waker().clone()) };
        // Release publishes the waker; acquire makes the result visible if COMPLETE came first.
        if st.fetch_or(WAKER, Ordering::AcqRel) & COMPLETE != 0 {
            // The task completed before seeing our waker, so it will not touch the slot; the
            // waker stays stored (WAKER is set) and is dropped with the cell.
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Handle side: moves the result out and lets go of the cell.
    ///
    /// # Safety
    /// The caller is the handle, saw COMPLETE with acquire ordering ([`CellPtr::is_complete`] or
    /// [`CellPtr::poll_complete`]) and has given up its pointer to the cell (called once).
    #[inline]
    pub(super) unsafe fn take_output(self) -> Result<T, JoinError> {
        // SAFETY: COMPLETE is set and was seen with acquire ordering, so the result is
        // initialised, visible, and belongs to the handle; it is read once, as the handle gave up
        // the cell (TAKEN tells any later freer not to drop it again).
        let r = unsafe { (*self.cell().slot.get()).result.assume_init_read() };
        self.release_handle(true);
        r.map_err(|e| *e)
    }

    /// Handle side: lets go of the cell. `taken`: the handle moved the result out.
    pub(super) fn release_handle(self, taken: bool) {
        let st = self.state();
        let s = st.load(Ordering::Acquire);
        if s & TASK_REF == 0 {
            // The task let go for good (acquire: its result and waker writes are visible).
            // SAFETY: TASK_REF is clear and we hold HANDLE_REF, the last reference; the result
            // is initialised if COMPLETE is set, and still there unless we took it.
            unsafe { self.free(s & COMPLETE != 0 && !taken) };
            return;
        }
        let prev = st.fetch_xor(if taken { HANDLE_REF | TAKEN } else { HANDLE_REF }, Ordering::AcqRel);
        if prev & TASK_REF == 0 {
            // SAFETY: the task let go between our load and our RMW (acquire: its writes are
            // visible), so we cleared the last bit; the result as above.
            unsafe { self.free(prev & COMPLETE != 0 && !taken) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JoinCell;
    /// The cells of small outputs fit the pool's 64-byte class (crate::pool), so a run of a
    /// million outstanding tasks stays within its cache.
    #[test]
    fn small_cells_fit_the_small_class() {
        assert!(std::mem::size_of::<JoinCell<()>>() <= 48, "{}", std::mem::size_of::<JoinCell<()>>());
        // A resident `async {}` task (a 1-byte future) fits the 64-byte class, with room to spare.
        assert_eq!(super::resident_layout::<(), u8>().map(|l| l.size()), Some(64));
        assert_eq!(super::resident_layout::<(), [u64; 4]>().map(|l| l.size()), Some(64));
        assert_eq!(super::resident_layout::<(), [u64; 5]>().map(|l| l.size()), Some(128));
        assert_eq!(super::resident_layout::<(), [u64; 13]>(), None);
        assert!(std::mem::size_of::<JoinCell<u64>>() <= 64);
        assert!(std::mem::size_of::<JoinCell<String>>() <= 64);
    }
}
