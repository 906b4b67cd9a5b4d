//! Compiles c_fibers.c: C fiber functions that Rust launches with dtact_fiber_launch.
fn main() {
    println!("cargo:rerun-if-changed=c_fibers.c");
    let inc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ffi/include");
    cc::Build::new().file("c_fibers.c").include(inc).flag("-std=c11").compile("dtact_mixed_c");
}
