//! The fallback timer: one global thread (`dtact-timer`, started on first use) that wakes
//! registered wakers at their deadlines. Used by a [`Sleep`](super::Sleep) polled outside its
//! fiber's runner (another executor, a combinator's own waker, a plain thread).
//!
//! A binary heap of (deadline, id) orders the deadlines; a map from id to waker says which are
//! still registered (deregistration removes the map entry only; the stale heap entry is skipped
//! when it comes up, and the heap is rebuilt when stale entries outnumber live ones). The thread
//! waits on a condition variable until the earliest deadline or a new earlier registration.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

struct State {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

struct Timer {
    state: Mutex<Option<State>>,
    cv: Condvar,
}

static TIMER: Timer = Timer { state: Mutex::new(None), cv: Condvar::new() };

fn lock() -> MutexGuard<'static, Option<State>> {
    TIMER.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `waker` to be woken at `deadline`; returns the registration's id.
pub(super) fn register(deadline: Instant, waker: Waker) -> u64 {
    let mut g = lock();
    if g.is_none() {
        *g = Some(State { heap: BinaryHeap::new(), wakers: HashMap::new(), next_id: 0 });
        std::thread::Builder::new()
            .name("dtact-timer".into())
            .spawn(run)
            .expect("dtact::time: cannot start the timer thread");
    }
    let st = g.as_mut().expect("set above");
    st.next_id += 1;
    let id = st.next_id;
    let earliest = st.heap.peek().map_or(true, |Reverse((d, _))| deadline < *d);
    st.heap.push(Reverse((deadline, id)));
    st.wakers.insert(id, waker);
    drop(g);
    if earliest {
        TIMER.cv.notify_one();
    }
    id
}

/// Replaces the waker of registration `id` (if it has not fired yet).
pub(super) fn update(id: u64, waker: Waker) {
    let mut g = lock();
    if let Some(w) = g.as_mut().and_then(|st| st.wakers.get_mut(&id)) {
        *w = waker;
    }
}

/// Removes registration `id` (if it has not fired yet).
pub(super) fn deregister(id: u64) {
    let mut g = lock();
    if let Some(st) = g.as_mut() {
        st.wakers.remove(&id);
        if st.heap.len() > 64 && st.heap.len() > 2 * st.wakers.len() {
            let wakers = &st.wakers;
            let live: Vec<_> = st.heap.drain().filter(|Reverse((_, i))| wakers.contains_key(i)).collect();
            st.heap = live.into();
        }
    }
}

fn run() {
    let mut due: Vec<Waker> = Vec::new();
    let mut g = lock();
    loop {
        let now = Instant::now();
        let mut wait = None;
        {
            let st = g.as_mut().expect("started with state");
            while let Some(&Reverse((d, id))) = st.heap.peek() {
                if d > now {
                    wait = Some(d - now);
                    break;
                }
                st.heap.pop();
                if let Some(w) = st.wakers.remove(&id) {
                    due.push(w);
                }
            }
        }
        if !due.is_empty() {
            drop(g);
            for w in due.drain(..) {
                w.wake();
            }
            g = lock();
            continue;
        }
        g = match wait {
            Some(d) => TIMER.cv.wait_timeout(g, d).unwrap_or_else(|e| e.into_inner()).0,
            None => TIMER.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
        };
    }
}
