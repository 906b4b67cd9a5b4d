//! A cache of join-cell blocks for the worker threads.
//!
//! Every spawn needs one small heap block (the join cell, see task/join_cell.rs) that lives until both the
//! task and its JoinHandle let go of it. Workloads that keep many handles (spawn a million tasks,
//! then await them) made glibc consolidate, trim and page-fault that memory again on every round,
//! which cost more than the spawn itself. Freed blocks are therefore kept and reused:
//!
//! - Blocks are 64 or 128 bytes with the allocator's natural 16-byte alignment. (Blocks aligned
//!   to 64 measured slower: glibc's memalign scatters them, and a spawn loop then walks memory
//!   without a pattern the prefetchers follow; 48-byte blocks, packed tighter, share more cache
//!   lines between the worker completing a cell and the one creating the next.) Larger or
//!   over-aligned cells use the global allocator directly.
//! - Each worker thread keeps a magazine of up to `MAG` free blocks per size class and trades full
//!   and empty magazines with a global depot (one lock per `MAG` blocks), so blocks freed on one
//!   worker serve spawns on another (a task resumes on whichever worker woke it).
//! - The depot keeps at most `MAX_DEPOT_BYTES`; beyond that blocks go back to the allocator.
//!   Worker threads free their magazines when they exit, and [`clear`] (called when the
//!   `Runtime` is dropped, after its workers have exited) frees the depot. Threads that are not
//!   Dtact workers do not cache blocks at all.
//! - An allocation prefetches the block the magazine will hand out `AHEAD` allocations later: a
//!   spawn loop with a million tasks outstanding takes blocks that left every cache long ago,
//!   and the first write of each stalled the spawn on its miss.
//! - The thread-local is only touched inside `#[inline(never)]` functions: a fiber may resume on
//!   another worker after any suspension, and a thread-local address computed before a suspension
//!   and reused after it (which inlining would allow) would be another thread's.
use std::alloc::{self, Layout};
use std::cell::Cell;
use std::mem;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dtact_sys as sys;

/// Block sizes of the size classes.
pub(crate) const CLASS_SIZES: [usize; 2] = [64, 128];
/// Alignment of every pooled block (what malloc gives anyway).
const BLOCK_ALIGN: usize = 16;
/// Blocks per magazine.
const MAG: usize = 512;
/// The most bytes of free blocks the depot keeps (all classes).
const MAX_DEPOT_BYTES: usize = 64 << 20;

const fn make_layout(size: usize) -> Layout {
    match Layout::from_size_align(size, BLOCK_ALIGN) {
        Ok(l) => l,
        Err(_) => panic!("bad block layout"),
    }
}
/// The layouts of the classes' blocks.
const BLOCK_LAYOUTS: [Layout; 2] = [make_layout(CLASS_SIZES[0]), make_layout(CLASS_SIZES[1])];

/// The size class of `l`, or None if it is not pooled.
#[inline]
const fn class_of(l: Layout) -> Option<usize> {
    if l.align() > BLOCK_ALIGN {
        None
    } else if l.size() <= CLASS_SIZES[0] {
        Some(0)
    } else if l.size() <= CLASS_SIZES[1] {
        Some(1)
    } else {
        None
    }
}

/// A free block: plain memory of its class's layout, owned by whoever holds the pointer.
#[derive(Clone, Copy)]
struct Block(NonNull<u8>);
// SAFETY: a free block is unshared memory; moving its pointer to another thread moves ownership.
unsafe impl Send for Block {}

type Magazine = Vec<Block>;

fn free_all(mag: &mut Magazine, class: usize) {
    for b in mag.drain(..) {
        // SAFETY: every block in a magazine of `class` was allocated with BLOCK_LAYOUTS[class]
        // and is owned by the magazine alone.
        unsafe { alloc::dealloc(b.0.as_ptr(), BLOCK_LAYOUTS[class]) };
    }
}

/// Full magazines per class, spare empty ones, and the bytes held.
struct Depot {
    full: [Vec<Magazine>; 2],
    empty: Vec<Magazine>,
    bytes: usize,
}

static DEPOT: Mutex<Depot> = Mutex::new(Depot { full: [Vec::new(), Vec::new()], empty: Vec::new(), bytes: 0 });

/// The number of full magazines of each class in the depot, kept under the depot's lock and read
/// without it: a thread whose magazine ran dry while the depot has none (a workload that keeps
/// more tasks outstanding than ever before) allocates from the allocator without taking the lock
/// for every block. A stale value costs one allocator call or one useless lock, nothing more.
static DEPOT_FULL: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

impl Depot {
    /// Publishes the count of full magazines of `class` (call under the lock, after a change).
    fn note_full(&self, class: usize) {
        // order: Relaxed: a hint only; the magazines themselves are handed over under the lock.
        DEPOT_FULL[class].store(self.full[class].len(), Ordering::Relaxed);
    }
}

fn depot() -> std::sync::MutexGuard<'static, Depot> {
    // A panic while holding the lock cannot leave the depot inconsistent (plain Vec moves).
    DEPOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frees every block of the depot (the Runtime is dropped; its workers have exited).
pub(crate) fn clear() {
    let (full, empty) = {
        let mut d = depot();
        d.bytes = 0;
        let taken = (mem::take(&mut d.full), mem::take(&mut d.empty));
        d.note_full(0);
        d.note_full(1);
        taken
    };
    for (class, mags) in full.into_iter().enumerate() {
        for mut m in mags {
            free_all(&mut m, class);
        }
    }
    drop(empty);
}

/// This thread's magazine per class: a stack of pointers rather than a list linked through the
/// blocks, so a run of spawns does not chase cache misses one after the other. Each is the
/// buffer of a `Vec<Block>` taken apart (pointer, fill, capacity; no buffer yet: null, 0, 0), so
/// that this thread-local has no destructor and its every use is a plain thread-local access (a
/// thread-local with a destructor checks its registration state first); [`GUARD`], registered
/// when a buffer is first installed, empties the magazines when the thread exits.
struct Hot {
    /// 0: not known yet, 1: a Dtact worker thread, 2: another thread, or one whose magazines
    /// were emptied at exit.
    worker: Cell<u8>,
    buf: [Cell<*mut Block>; 2],
    len: [Cell<usize>; 2],
    cap: [Cell<usize>; 2],
}

thread_local! {
    static HOT: Hot = const {
        Hot {
            worker: Cell::new(0),
            buf: [Cell::new(ptr::null_mut()), Cell::new(ptr::null_mut())],
            len: [Cell::new(0), Cell::new(0)],
            cap: [Cell::new(0), Cell::new(0)],
        }
    };
    static GUARD: Guard = const { Guard };
}

/// Empties this thread's magazines when it exits (its registration is what `try_with` does the
/// first time).
struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        // Thread-locals without a destructor stay usable while others are destroyed.
        HOT.with(|h| {
            h.worker.set(2);
            for class in 0..2 {
                let mut m = h.take(class);
                free_all(&mut m, class);
            }
        });
    }
}

impl Hot {
    fn is_worker(&self) -> bool {
        match self.worker.get() {
            1 => true,
            2 => false,
            _ => {
                // SAFETY: a plain query of the calling thread's worker index.
                let w = unsafe { sys::dtact_current_worker() } >= 0;
                // Only a thread whose guard can still be registered keeps blocks.
                let w = w && GUARD.try_with(|_| ()).is_ok();
                self.worker.set(if w { 1 } else { 2 });
                w
            }
        }
    }
    /// Takes this thread's magazine of `class` out (leaving none).
    fn take(&self, class: usize) -> Magazine {
        let (p, len, cap) = (self.buf[class].get(), self.len[class].get(), self.cap[class].get());
        self.buf[class].set(ptr::null_mut());
        self.len[class].set(0);
        self.cap[class].set(0);
        if p.is_null() {
            return Vec::new();
        }
        // SAFETY: (p, len, cap) are the parts of a Vec<Block> installed by `put`, and its first
        // `len` elements were written (by `put` or a push); it is reassembled once, here, as the
        // fields were reset above.
        unsafe { Vec::from_raw_parts(p, len, cap) }
    }
    /// Installs `m` as this thread's magazine of `class` (which has none).
    fn put(&self, class: usize, m: Magazine) {
        debug_assert!(self.buf[class].get().is_null());
        let mut m = mem::ManuallyDrop::new(m);
        if m.capacity() == 0 {
            return; // no buffer: nothing to keep
        }
        self.buf[class].set(m.as_mut_ptr());
        self.len[class].set(m.len());
        self.cap[class].set(m.capacity());
    }
}

/// The layout of the pooled blocks of the smallest class that holds `l`, if one does.
#[inline]
pub(crate) const fn class_layout(l: Layout) -> Option<Layout> {
    match class_of(l) {
        Some(c) => Some(BLOCK_LAYOUTS[c]),
        None => None,
    }
}

/// The layout of the blocks of class `c` (0 or 1).
#[inline]
pub(crate) const fn class_block(c: usize) -> Layout {
    BLOCK_LAYOUTS[c]
}

/// Allocates memory for `l` (non-zero size); aborts on out-of-memory like `Box::new`.
#[inline]
pub(crate) fn alloc(l: Layout) -> NonNull<u8> {
    match class_of(l) {
        Some(c) => alloc_block(c),
        None => alloc_global(l),
    }
}

/// Frees memory from [`alloc`] with the same layout.
///
/// # Safety
/// `p` came from `alloc(l)` with this `l` and is not used afterwards.
#[inline]
pub(crate) unsafe fn free(p: NonNull<u8>, l: Layout) {
    match class_of(l) {
        // SAFETY: forwarded caller contract.
        Some(c) => unsafe { free_block(p, c) },
        // SAFETY: forwarded caller contract (alloc used the global allocator for this layout).
        None => unsafe { alloc::dealloc(p.as_ptr(), l) },
    }
}

fn alloc_global(l: Layout) -> NonNull<u8> {
    // SAFETY: callers pass layouts of non-zero size (a join cell holds at least its state word).
    let p = unsafe { alloc::alloc(l) };
    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(l))
}

/// Blocks fetched ahead of their allocation (see [`alloc_block`]).
const AHEAD: usize = 4;

/// Starts fetching the line of `p + off` into this core's cache (a hint: no effect on memory,
/// and none on targets without a stable prefetch instruction in `core::arch`).
#[inline(always)]
fn prefetch(p: *const u8, off: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address (SSE, part of every
    // x86_64 target); wrapping_add computes the address without asserting it is in bounds.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.wrapping_add(off) as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, off);
}

#[inline(never)]
fn alloc_block(class: usize) -> NonNull<u8> {
    let got = HOT.with(|h| {
        let n = h.len[class].get();
        if n != 0 {
            h.len[class].set(n - 1);
            let buf = h.buf[class].get();
            // A run of spawns takes blocks that were freed long ago (a million outstanding tasks
            // outgrow every cache): start fetching the one AHEAD allocations from now, so that
            // its miss overlaps the spawns in between instead of stalling the spawn that writes
            // it. Both lines a join cell's hot part (bytes 16..48, see JoinCell) may span.
            if n > AHEAD {
                // SAFETY: slot n - 1 - AHEAD is below the fill, so it holds a block pointer.
                let b = unsafe { *buf.add(n - 1 - AHEAD) }.0.as_ptr();
                prefetch(b, 16);
                prefetch(b, 47);
            }
            // SAFETY: the magazine's first `n` slots hold blocks (see Hot::take); the top one is
            // taken (the fill was lowered above).
            return Some(unsafe { *buf.add(n - 1) });
        }
        refill(h, class)
    });
    match got {
        Some(b) => b.0,
        None => alloc_global(BLOCK_LAYOUTS[class]),
    }
}

/// This thread's magazine of `class` is empty: trades it for a full one from the depot, if there
/// is one, and takes a block from it.
#[cold]
fn refill(h: &Hot, class: usize) -> Option<Block> {
    if !h.is_worker() {
        return None;
    }
    // order: Relaxed: a hint (see DEPOT_FULL); the lock orders the hand-over.
    if DEPOT_FULL[class].load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut d = depot();
    let mut full = d.full[class].pop()?;
    d.note_full(class);
    d.bytes -= full.len() * CLASS_SIZES[class];
    let empty = h.take(class);
    if empty.capacity() != 0 {
        d.empty.push(empty);
    }
    drop(d);
    let b = full.pop();
    h.put(class, full);
    b
}

/// Returns a block of `class` to this thread's magazine (or the depot, or the allocator).
///
/// # Safety
/// `p` came from `alloc_block(class)` (or from the global allocator with
/// `BLOCK_LAYOUTS[class]`) and is not used afterwards.
#[inline(never)]
unsafe fn free_block(p: NonNull<u8>, class: usize) {
    let kept = HOT.with(|h| {
        let n = h.len[class].get();
        if n < h.cap[class].get() {
            // SAFETY: slot `n` is within the magazine's capacity; the fill is raised after.
            unsafe { h.buf[class].get().add(n).write(Block(p)) };
            h.len[class].set(n + 1);
            return true;
        }
        spill(h, class, p)
    });
    if !kept {
        // SAFETY: the block came from the global allocator with BLOCK_LAYOUTS[class] (directly,
        // or through the pool, which got it there) and the caller gave it up.
        unsafe { alloc::dealloc(p.as_ptr(), BLOCK_LAYOUTS[class]) };
    }
}

/// This thread's magazine of `class` is full (or missing): hands a full one to the depot (or,
/// if the depot is full, frees its blocks), starts an empty one and keeps `p` there. False if
/// this thread keeps no blocks.
#[cold]
fn spill(h: &Hot, class: usize, p: NonNull<u8>) -> bool {
    if !h.is_worker() {
        return false;
    }
    let mut mag = h.take(class);
    if mag.capacity() == 0 {
        mag = depot().empty.pop().unwrap_or_default();
    } else {
        let mut d = depot();
        let spare = d.empty.pop().unwrap_or_default();
        let mut full = mem::replace(&mut mag, spare);
        if d.bytes + full.len() * CLASS_SIZES[class] <= MAX_DEPOT_BYTES {
            d.bytes += full.len() * CLASS_SIZES[class];
            d.full[class].push(full);
            d.note_full(class);
        } else {
            drop(d);
            free_all(&mut full, class);
            depot().empty.push(full);
        }
    }
    if mag.capacity() < MAG {
        mag.reserve_exact(MAG - mag.len());
    }
    mag.push(Block(p));
    h.put(class, mag);
    true
}
