//! Rust launching C fiber functions (c_fibers.c, compiled by build.rs) with the raw
//! dtact_fiber_launch, awaited with dtact_await from a thread and from a Rust task.
extern crate dtact_mixed; // links c_fibers.c (built by build.rs into this package)

use std::ffi::c_void;

use dtact::sys;

#[repr(C)]
#[derive(Default, Debug)]
struct CJob {
    n: u64,
    sum: u64,
    yields_ok: i32,
    on_fiber: i32,
}

extern "C" {
    fn c_sum_fiber(arg: *mut c_void);
}

#[test]
fn rust_launches_c_fibers() {
    let rt = dtact::Runtime::builder().workers(2).build().unwrap();
    let mut jobs: Vec<Box<CJob>> = (1..=8u64).map(|i| Box::new(CJob { n: i * 1000, ..Default::default() })).collect();
    let handles: Vec<dtact::dtact_handle_t> = jobs
        .iter_mut()
        .map(|j| {
            // SAFETY: c_sum_fiber takes a *mut c_job_t, whose C layout CJob (repr(C)) matches; each
            // job is boxed (its address is stable) and outlives its fiber, which is awaited below
            // before `jobs` is read or dropped, and only that fiber touches it meanwhile.
            let h = unsafe { sys::dtact_fiber_launch(Some(c_sum_fiber), &mut **j as *mut CJob as *mut c_void) };
            assert_ne!(h, 0, "launch failed");
            dtact::dtact_handle_t(h)
        })
        .collect();
    // await half from this thread, half from a Rust task (which suspends only its fiber)
    let (a, b) = handles.split_at(4);
    for &h in a {
        dtact::dtact_await(h).unwrap();
    }
    let b = b.to_vec();
    dtact::spawn(async move {
        for h in b {
            dtact::dtact_await(h).unwrap();
        }
    })
    .join()
    .unwrap();
    for j in &jobs {
        assert_eq!(j.sum, j.n * (j.n + 1) / 2);
        assert_eq!(j.yields_ok, 1);
        assert_eq!(j.on_fiber, 1);
    }
    drop(rt);
}
