//! Runs examples/original_readme.rs (the original Dtact's README example pattern, unchanged
//! API use) and checks its output. `harness = false`: this binary runs itself again as a child
//! process (the C runtime is process-global and the example's `main` builds it), with
//! `DTACT_README_CHILD=1`, and checks the child's stdout and exit status.
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_must_use)]
mod readme {
    include!("../examples/original_readme.rs");
    /// The example's `main`, reachable from the harness.
    pub(crate) fn run() {
        main()
    }
}

fn pos(lines: &[String], l: &str) -> usize {
    lines.iter().position(|x| x == l).unwrap_or_else(|| panic!("line {:?} missing from:\n{}", l, lines.join("\n")))
}

fn main() {
    if std::env::var_os("DTACT_README_CHILD").is_some() {
        readme::run();
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .env("DTACT_README_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the example");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).expect("read stdout");
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the example did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = reader.join().expect("reader");
    print!("{}", text);
    assert!(status.success(), "the example failed: {}", status);
    let lines: Vec<String> = text.lines().map(String::from).collect();
    assert_eq!(lines.len(), 1 + 5 + 5 * 5 + 2 * 5 + 1, "line count");
    assert_eq!(lines[0], "readme example: start");
    assert_eq!(lines[lines.len() - 1], "main: all fibers joined, exiting");
    let first_wait = pos(&lines, "main: waiting for fiber 0");
    for id in 0..5 {
        // main spawns in order, before it waits for anything, and a fiber starts after its spawn
        let spawning = pos(&lines, &format!("main: spawning fiber {}", id));
        assert!(spawning < first_wait, "spawn {} after the first wait", id);
        if id > 0 {
            assert!(pos(&lines, &format!("main: spawning fiber {}", id - 1)) < spawning);
        }
        // each fiber's steps in order
        let start = pos(&lines, &format!("fiber {}: start", id));
        assert!(spawning < start, "fiber {} started before its spawn", id);
        let s0 = pos(&lines, &format!("fiber {}: step 0", id));
        let s1 = pos(&lines, &format!("fiber {}: step 1", id));
        let s2 = pos(&lines, &format!("fiber {}: step 2", id));
        let done = pos(&lines, &format!("fiber {}: done", id));
        assert!(start < s0 && s0 < s1 && s1 < s2 && s2 < done, "fiber {} out of order", id);
        // every join comes after its fiber finished, and the joins are in order
        let waiting = pos(&lines, &format!("main: waiting for fiber {}", id));
        let joined = pos(&lines, &format!("main: fiber {} joined", id));
        assert!(waiting < joined && done < joined, "join {} out of order", id);
        if id > 0 {
            assert!(pos(&lines, &format!("main: fiber {} joined", id - 1)) < waiting);
        }
    }
    println!("original_readme: OK");
}
