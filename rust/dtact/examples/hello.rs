//! The smallest dtact program: a runtime with two worker threads, a few tasks on their own fibers,
//! their outputs joined. Run it from the repository root with
//!
//! ```sh
//! cargo run -p dtact --example hello
//! ```
//!
//! (offline against Debian's crates: see README.md, "Rust").
fn main() {
    let rt = dtact::Runtime::builder().workers(2).build().expect("dtact runtime");
    let total = rt.block_on(async {
        // Each spawn runs its future on a new fiber; the JoinHandle yields its output.
        let handles: Vec<_> = (1..=4u64)
            .map(|i| {
                dtact::spawn(async move {
                    dtact::yield_now().await; // let the other fibers of this worker run
                    println!("hello from task {} on worker {:?}", i, dtact::current_worker());
                    i * 10
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("task panicked");
        }
        sum
    });
    assert_eq!(total, 100);
    println!("sum = {}", total);
    // Dropping the runtime shuts it down.
}
