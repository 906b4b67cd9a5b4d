//! Feature probe for the compiler this crate is built with (it supports Rust 1.63, Debian
//! bookworm's rustc, and newer): sets `--cfg dtact_into_future` when rustc is 1.64 or newer, so
//! `impl IntoFuture for TaskFuture` (a `#[task]` fn's result `.await`ed in place) is compiled
//! only where `std::future::IntoFuture` is stable. No other effect; no dependencies.
use std::process::Command;

fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?; // "rustc 1.63.0 (4b91a6ea7 2022-08-08)"
    let ver = s.split_whitespace().nth(1)?;
    let mut it = ver.split('.');
    if it.next()? != "1" {
        return None;
    }
    it.next()?.parse().ok()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let minor = rustc_minor().unwrap_or(0);
    if minor >= 80 {
        // Declares the cfg to rustc's check-cfg (older Cargo warns about this line).
        println!("cargo:rustc-check-cfg=cfg(dtact_into_future)");
    }
    if minor >= 64 {
        println!("cargo:rustc-cfg=dtact_into_future");
    }
}
