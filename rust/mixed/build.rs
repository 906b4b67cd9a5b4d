//! Compiles c_fibers.c: C fiber functions that Rust launches with dtact_fiber_launch.
//! The header comes from dtact-sys (`links = "dtact"` exports its include directory as
//! DEP_DTACT_INCLUDE), so this works wherever dtact-sys found its C sources.
fn main() {
    println!("cargo:rerun-if-changed=c_fibers.c");
    println!("cargo:rerun-if-env-changed=DEP_DTACT_INCLUDE");
    let inc = std::env::var_os("DEP_DTACT_INCLUDE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ffi/include"));
    cc::Build::new()
        .file("c_fibers.c")
        .include(inc)
        .flag("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("dtact_mixed_c");
}
