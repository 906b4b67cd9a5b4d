//! Compiles the Dtact C core (core/*.c, ffi/*.c) and the context-switch assembly for the
//! target architecture into a static library `dtact_c`, linked with pthread.
use std::path::{Path, PathBuf};

fn files(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && matches!(p.file_name().and_then(|n| n.to_str()), Some(n) if pred(n)))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..");
    let core = root.join("core");
    let ffi = root.join("ffi");
    let inc = ffi.join("include");
    let asm = root.join("asm");
    for d in [&core, &ffi, &inc, &asm] {
        println!("cargo:rerun-if-changed={}", d.display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let asm_suffix = match arch.as_str() {
        "x86_64" => "_x86_64_sysv_elf_gas.S",
        "aarch64" => "_arm64_aapcs_elf_gas.S",
        other => panic!("dtact-sys: unsupported target architecture {other} (x86_64 and aarch64 only)"),
    };

    let mut b = cc::Build::new();
    let mut srcs = files(&core, |n| n.ends_with(".c"));
    srcs.extend(files(&ffi, |n| n.ends_with(".c")));
    srcs.extend(files(&asm, |n| n.ends_with(asm_suffix)));
    assert!(!srcs.is_empty(), "dtact-sys: no C sources found under {}", core.display());
    for s in &srcs {
        println!("cargo:rerun-if-changed={}", s.display());
        b.file(s);
    }
    b.include(&core)
        .include(&inc)
        .flag("-std=c11")
        .define("_GNU_SOURCE", None)
        .flag("-fvisibility=hidden")
        .warnings(false);
    b.compile("dtact_c");
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:include={}", inc.display());
}
