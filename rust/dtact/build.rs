//! Probes the compiler version (no external crates): from Rust 1.64 on, sets the cfg
//! `dtact_into_future`, under which `TaskFuture` implements `std::future::IntoFuture` (so a
//! `#[task]` call can be `.await`ed in place). The crate itself builds with Rust 1.63.
use std::process::Command;

/// The minor version of `$RUSTC --version` ("rustc 1.63.0 (...)"), if it can be read.
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let minor = rustc_minor();
    if matches!(minor, Some(m) if m >= 80) {
        // Declares the cfg to rustc's check-cfg (cargo before 1.80 does not know this line).
        println!("cargo:rustc-check-cfg=cfg(dtact_into_future)");
    }
    if matches!(minor, Some(m) if m >= 64) {
        println!("cargo:rustc-cfg=dtact_into_future");
    }
}
