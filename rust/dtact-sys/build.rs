//! Compiles the Dtact C core (core/*.c, ffi/*.c) and the context-switch assembly for the
//! target architecture into a static library `dtact_c`, linked with pthread.
//!
//! Where the C sources come from:
//! - in the repository checkout, `../../core`, `../../asm`, `../../ffi` (the one copy of them);
//! - in a packaged crate (`cargo package`, crates.io, a vendored directory), `csrc/`, which
//!   `scripts/package-rust.sh` fills with a copy of the same three directories when it packages
//!   the crate (csrc/ is ignored by git and removed again after packaging).
//!
//! The repository wins when both exist, so a stale csrc/ can never shadow edited sources.
//! `DTACT_SYS_SOURCE_DIR=<dir>` (a directory holding core/, asm/ and ffi/) overrides both.
//!
//! Flags: the same as the CMake build (CMakeLists.txt, target dtact_objects): C11 without
//! extensions, -fvisibility=hidden, _GNU_SOURCE, BUILDING_DTACT_SHARED, the warnings
//! -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes, and the CET/BTI flags the
//! asm declares (-fcf-protection=branch on x86_64, -mbranch-protection=standard on aarch64),
//! and -fstack-clash-protection.
//! Warnings are errors (CMake's DTACT_WERROR, ON there) when building from the repository;
//! from a package they are only warnings, so a newer compiler cannot break a user's build.
//! `DTACT_WERROR=1` / `DTACT_WERROR=0` forces either. The optimisation level follows the Cargo
//! profile (cc's default).
//!
//! This file must build with Rust 1.63 (Debian bookworm's rustc): see rust-version.
use std::path::{Path, PathBuf};

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && match p.file_name().and_then(|n| n.to_str()) {
                        Some(n) => n.ends_with(suffix),
                        None => false,
                    }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn is_source_root(d: &Path) -> bool {
    d.join("core/runtime.c").is_file() && d.join("ffi/include/dtact.h").is_file() && d.join("asm").is_dir()
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DTACT_SYS_SOURCE_DIR");
    println!("cargo:rerun-if-env-changed=DTACT_WERROR");

    let repo = manifest.join("../..");
    let vendored = manifest.join("csrc");
    let (root, in_repo) = match std::env::var_os("DTACT_SYS_SOURCE_DIR") {
        Some(d) => (PathBuf::from(d), false),
        None if is_source_root(&repo) => (repo, true),
        None => (vendored, false),
    };
    if !is_source_root(&root) {
        panic!(
            "dtact-sys: no C sources: expected core/, asm/ and ffi/include/ under {} \
             (a packaged crate carries them in csrc/: package it with scripts/package-rust.sh)",
            root.display()
        );
    }
    let core = root.join("core");
    let ffi = root.join("ffi");
    let inc = ffi.join("include");
    let asm = root.join("asm");
    for d in [&core, &ffi, &inc, &asm] {
        println!("cargo:rerun-if-changed={}", d.display());
    }

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let (asm_suffix, cet_flag) = match arch.as_str() {
        "x86_64" => ("_x86_64_sysv_elf_gas.S", "-fcf-protection=branch"),
        "aarch64" => ("_arm64_aapcs_elf_gas.S", "-mbranch-protection=standard"),
        other => panic!("dtact-sys: unsupported target architecture {} (x86_64 and aarch64 only)", other),
    };
    let werror = match std::env::var("DTACT_WERROR").ok().as_deref() {
        Some("1") | Some("ON") | Some("on") | Some("true") => true,
        Some("0") | Some("OFF") | Some("off") | Some("false") => false,
        _ => in_repo,
    };

    let mut b = cc::Build::new();
    let mut srcs = files(&core, ".c");
    srcs.extend(files(&ffi, ".c"));
    srcs.extend(files(&asm, asm_suffix));
    for s in &srcs {
        println!("cargo:rerun-if-changed={}", s.display());
        b.file(s);
    }
    for h in files(&core, ".h").into_iter().chain(files(&inc, ".h")) {
        println!("cargo:rerun-if-changed={}", h.display());
    }
    b.include(&core)
        .include(&inc)
        .flag("-std=c11")
        .flag("-fvisibility=hidden")
        .define("_GNU_SOURCE", None)
        .define("BUILDING_DTACT_SHARED", None)
        .warnings(true) // -Wall (-Wextra with extra_warnings)
        .extra_warnings(true)
        .flag("-Wshadow")
        .flag("-Wstrict-prototypes")
        .flag("-Wmissing-prototypes")
        .warnings_into_errors(werror);
    if arch == "x86_64" {
        // CMake checks the flag too (check_c_compiler_flag); every gcc >= 8 and clang >= 7 has it.
        b.flag_if_supported(cet_flag);
    } else {
        b.flag(cet_flag);
    }
    // As CMake: frames larger than a page probe every page, so they hit a fiber's guard page.
    b.flag_if_supported("-fstack-clash-protection");
    b.compile("dtact_c");
    println!("cargo:rustc-link-lib=pthread");
    // DEP_DTACT_INCLUDE / DEP_DTACT_ROOT for build scripts of crates that depend on this one.
    println!("cargo:include={}", inc.display());
    println!("cargo:root={}", root.display());
}
