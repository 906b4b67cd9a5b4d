//! Mixed C/Rust programs.
//!
//! (a) `rust_sum_squares` is exported to C (this crate is also a `staticlib`); `c_main.c` calls
//! it. It spawns one Rust future per term with `dtact::spawn` and joins them. If no runtime
//! exists it creates one for the call (and drops it); if C already created one (`dtact_init` +
//! `dtact_start`), it uses that one. Called on a fiber, joining waits on the fiber only.
//!
//! (b) `tests/c_fibers.rs` launches C functions (`c_fibers.c`) on fibers with the raw
//! `dtact_fiber_launch` and awaits them with `dtact_await`.

/// Sum of i*i for i in 1..=n, each square computed by its own task; 0 on error.
#[no_mangle]
pub extern "C" fn rust_sum_squares(n: u64) -> u64 {
    let r = std::panic::catch_unwind(|| {
        let _own = match dtact::Runtime::builder().workers(2).build() {
            Ok(rt) => Some(rt),
            Err(dtact::Error::AlreadyInitialized) => None, // C's runtime
            Err(e) => {
                eprintln!("rust_sum_squares: {e}");
                return 0;
            }
        };
        let hs: Vec<_> = (1..=n)
            .map(|i| {
                dtact::spawn(async move {
                    dtact::yield_now().await;
                    i * i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    r.unwrap_or(0) // never unwind into C
}

#[cfg(test)]
mod tests {
    #[test]
    fn sum_squares_from_rust() {
        assert_eq!(super::rust_sum_squares(100), (1..=100u64).map(|i| i * i).sum());
    }
}
