//! `#[dtact::main] async fn` runs its body on a fiber (a pinned task) while the host thread
//! waits for it, and returns the body's output; a panic in the body reaches the caller. Also
//! records what a task sees of its worker thread's name. One test: each macro-made function
//! builds and drops the process-global runtime.
use std::rc::Rc;
use std::thread::ThreadId;

/// An opaque identity (`std::hint::black_box` needs Rust 1.66; this crate supports 1.63).
#[inline(never)]
fn opaque<T>(x: T) -> T {
    x
}

/// What the body saw: on a fiber?, its thread, Rust's name of that thread, the OS name.
type Seen = (bool, ThreadId, Option<String>, Option<String>);

/// The OS (pthread) name of the calling thread, from /proc (Linux).
fn os_thread_name() -> Option<String> {
    std::fs::read_to_string("/proc/thread-self/comm").ok().map(|s| s.trim_end().to_string())
}

#[dtact::main(workers = 2)]
async fn body_on_a_fiber() -> Seen {
    // the body need not be Send: it is built on its fiber and stays there
    let rc = Rc::new(1);
    dtact::yield_now().await;
    assert_eq!(*rc, 1);
    let inner = dtact::spawn(async { 20 }).await.unwrap();
    assert_eq!(inner, 20);
    let t = std::thread::current();
    (dtact::in_fiber(), t.id(), t.name().map(String::from), os_thread_name())
}

#[dtact::main(workers = 1)]
async fn with_args(a: u64, b: String) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if a == 0 {
        return Err("zero".into());
    }
    let n: u64 = b.parse()?;
    Ok(format!("{}", a + n))
}

#[dtact::main(workers = 1)]
async fn panicking_body() {
    if opaque(true) {
        panic!("main body panicked");
    }
}

#[test]
fn async_main_runs_on_a_fiber() {
    let host = std::thread::current().id();
    let (on_fiber, thread, rust_name, os_name) = body_on_a_fiber();
    assert!(on_fiber, "the body ran on a fiber");
    assert_ne!(thread, host, "the body ran on a worker thread, not the host thread");
    println!("inside a task: std::thread::current().name() = {:?}, OS name = {:?}", rust_name, os_name);
    if let Some(os) = &os_name {
        assert!(os.starts_with("dtact-worker-"), "worker threads are named by the C runtime: {:?}", os);
    }
    // Rust does not see the pthread name of a thread it did not create.
    assert_ne!(rust_name.as_deref().map(|n| n.starts_with("dtact-worker-")), Some(true), "update the docs: Rust now sees it");

    assert_eq!(with_args(2, "40".into()).unwrap(), "42");
    assert_eq!(with_args(0, "1".into()).unwrap_err().to_string(), "zero");
    assert!(with_args(1, "x".into()).is_err());

    let p = std::panic::catch_unwind(panicking_body).expect_err("the panic reaches the caller");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"main body panicked"));
    // every runtime was dropped
    drop(dtact::Runtime::builder().build().expect("no runtime left"));
}
