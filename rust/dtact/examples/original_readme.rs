// The Rust example of the original Dtact's README (the earlier Rust implementation of Dtact),
// in its own words but with the original's API use unchanged: the same imports, the same
// `#[task(...)]` and `#[dtact_init(...)]` arguments (including `capacity` on the task), `spawn`
// of a `#[task]` call pushed into a `vec![]`, and `dtact_await(handle)` on what `spawn`
// returned. A program written this way against the original compiles and runs here without
// changes (`dtact_await` now returns a `Result`, so its unused value is a warning).
// tests/original_readme.rs runs this file and checks what it prints. Plain `//` comments only:
// the test `include!`s this file.
use dtact::{dtact_await, dtact_init, spawn, task, yield_now};

#[task(priority = "Normal", kind = "Compute", stack = "256K", capacity = "1024")]
async fn worker(id: u32) {
    println!("fiber {}: start", id);
    for step in 0..3 {
        println!("fiber {}: step {}", id, step);
        yield_now().await;
    }
    println!("fiber {}: done", id);
}

#[dtact_init(workers = 4, stack = "256K", capacity = "1024")]
fn main() {
    println!("readme example: start");

    let mut handles = vec![];
    for id in 0..5 {
        println!("main: spawning fiber {}", id);
        handles.push(spawn(worker(id)));
    }

    for (id, handle) in handles.into_iter().enumerate() {
        println!("main: waiting for fiber {}", id);
        dtact_await(handle);
        println!("main: fiber {} joined", id);
    }

    println!("main: all fibers joined, exiting");
}
