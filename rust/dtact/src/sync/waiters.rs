//! The waiter list every primitive of [`crate::sync`] uses: a slab of entries (a waker and the
//! primitive's per-waiter data) plus a FIFO queue of the entries still waiting. It lives inside
//! the primitive's `std::sync::Mutex` (short critical sections, no allocation once warm).
//!
//! A pending future holds the key of its entry. The primitive dequeues an entry when it serves
//! it (grants, notifies, closes) and records the outcome in the entry's data; the future reads
//! the outcome at its next poll and removes the entry. A future dropped while it holds a key
//! removes the entry itself (and hands on whatever it was granted), so nothing leaks and no
//! grant is lost. Keys are never reused while their future holds them, since only the holder
//! removes its entry.
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Waker};

/// One waiter.
pub(crate) struct Entry<S> {
    /// FIFO position (strictly increasing), for removal by binary search.
    seq: u64,
    /// Still in the queue (not served yet).
    queued: bool,
    /// Where to send the wake-up.
    pub(crate) waker: Option<Waker>,
    /// The primitive's per-waiter data (what it asked for, what it got).
    pub(crate) data: S,
}

/// A slab of waiter entries plus their FIFO queue.
pub(crate) struct Waiters<S> {
    slots: Vec<Option<Entry<S>>>,
    free: Vec<usize>,
    queue: VecDeque<(u64, usize)>,
    seq: u64,
}

impl<S> Waiters<S> {
    pub(crate) fn new() -> Self {
        Waiters { slots: Vec::new(), free: Vec::new(), queue: VecDeque::new(), seq: 0 }
    }

    /// Adds a waiter at the back of the queue; returns its key.
    pub(crate) fn push(&mut self, data: S, waker: &Waker) -> usize {
        self.seq += 1;
        let e = Entry { seq: self.seq, queued: true, waker: Some(waker.clone()), data };
        let key = match self.free.pop() {
            Some(k) => {
                self.slots[k] = Some(e);
                k
            }
            None => {
                self.slots.push(Some(e));
                self.slots.len() - 1
            }
        };
        self.queue.push_back((self.seq, key));
        key
    }

    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The first queued waiter.
    pub(crate) fn front(&self) -> Option<usize> {
        self.queue.front().map(|&(_, k)| k)
    }

    /// Dequeues the first waiter (its entry stays until its future removes it).
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let (_, k) = self.queue.pop_front()?;
        self.get_mut(k).queued = false;
        Some(k)
    }

    /// The entry of `key`.
    pub(crate) fn get_mut(&mut self, key: usize) -> &mut Entry<S> {
        self.slots[key].as_mut().expect("dtact::sync: stale waiter key")
    }

    /// Stores `cx`'s waker in the entry (unless it would wake the same task already).
    pub(crate) fn update_waker(&mut self, key: usize, cx: &Context<'_>) {
        let e = self.get_mut(key);
        match &e.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => e.waker = Some(cx.waker().clone()),
        }
    }

    /// Removes the entry of `key` (dequeuing it if it is still queued) and returns it.
    pub(crate) fn remove(&mut self, key: usize) -> Entry<S> {
        let e = self.slots[key].take().expect("dtact::sync: stale waiter key");
        if e.queued {
            if let Ok(i) = self.queue.binary_search_by_key(&e.seq, |&(s, _)| s) {
                self.queue.remove(i);
            }
        }
        self.free.push(key);
        e
    }
}

/// Wakers collected under a lock, woken after it is released (a waker may do anything).
pub(crate) struct WakeList {
    inline: [Option<Waker>; 4],
    n: usize,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList { inline: [None, None, None, None], n: 0, rest: Vec::new() }
    }
    pub(crate) fn push(&mut self, w: Option<Waker>) {
        if let Some(w) = w {
            if self.n < self.inline.len() {
                self.inline[self.n] = Some(w);
                self.n += 1;
            } else {
                self.rest.push(w);
            }
        }
    }
    /// Wakes everything collected.
    pub(crate) fn wake(self) {
        for w in self.inline.into_iter().flatten() {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// Locks an internal mutex; a panic while it was held cannot leave our state inconsistent (the
/// critical sections do not panic midway), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
