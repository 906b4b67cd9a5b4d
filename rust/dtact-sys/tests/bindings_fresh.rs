//! Regenerates the bindings with the same command line as gen-bindings.sh (by running that
//! script) and fails on any difference with the committed src/bindings.rs. Skipped, with a
//! printed reason, when the `bindgen` binary is not on PATH.
use std::path::PathBuf;
use std::process::Command;

#[test]
fn bindings_are_fresh() {
    let have = Command::new("bindgen").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !have {
        println!("SKIPPED bindings_fresh: the `bindgen` binary is not on PATH (apt-get install bindgen)");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("dtact-bindings-{}.rs", std::process::id()));
    let st = Command::new("bash").arg(dir.join("gen-bindings.sh")).arg(&out).status().expect("run gen-bindings.sh");
    assert!(st.success(), "gen-bindings.sh failed");
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read_to_string(dir.join("src/bindings.rs")).unwrap();
    if fresh != committed {
        let line = fresh.lines().zip(committed.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
        panic!(
            "src/bindings.rs is stale (first difference at line {line}): run rust/dtact-sys/gen-bindings.sh and commit the result"
        );
    }
}
