//! The per-thread state of a task's runner (yield request, driver mark, timer registry: one
//! thread-local, set up and taken back around each poll) and the fiber handle the runner takes
//! from the task's join cell. One worker, so every task runs on the same thread as the ones
//! before it, and whatever a task leaves behind there meets the next one. One test: the runtime
//! is process-global.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dtact::time::sleep;
use dtact::{spawn, yield_now, Runtime};

/// Polls a sleep once (registering its deadline with the task's runner), then panics in the
/// same poll: the runner never takes its timer registry back.
struct SleepThenPanic(Pin<Box<dtact::time::Sleep>>);
impl Future for SleepThenPanic {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert!(self.0.as_mut().poll(cx).is_pending());
        panic!("runner_state: panic with a timer registered");
    }
}

#[test]
fn runner_state_survives_panics_nesting_and_many_tasks() {
    let rt = Runtime::builder().workers(1).build().expect("runtime");
    rt.block_on(async {
        // Each task's runner uses the handle the spawn wrote into the join cell: it is the
        // task's own (dtact_self), whatever record the task got (records are reused).
        let mut hs = Vec::new();
        for _ in 0..3000 {
            hs.push(spawn(async { dtact::fiber::current().expect("on a fiber") }));
        }
        for h in hs {
            let want = h.fiber_handle();
            assert_eq!(h.await.unwrap(), want);
        }

        // A poll that panics with a timer registered: the task reports the panic, and the
        // tasks after it on the same thread sleep, yield and nest as usual.
        for round in 0..3 {
            let e = spawn(SleepThenPanic(Box::pin(sleep(Duration::from_secs(3600))))).await.unwrap_err();
            assert!(e.is_panic(), "round {round}: {e:?}");
            let t0 = Instant::now();
            let v = spawn(async move {
                sleep(Duration::from_millis(2)).await;
                yield_now().await;
                // A nested wait keeps the outer poll's state; the outer runner then sleeps again.
                let inner = dtact::wait(async {
                    sleep(Duration::from_millis(1)).await;
                    7
                });
                sleep(Duration::from_millis(1)).await;
                inner + round
            })
            .await
            .unwrap();
            assert_eq!(v, 7 + round);
            assert!(t0.elapsed() >= Duration::from_millis(4), "the sleeps did not wait");
        }
    });
}
