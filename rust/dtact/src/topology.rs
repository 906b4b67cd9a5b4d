//! Where code runs: [`Affinity`] (a spawn option; the original Dtact, the earlier Rust
//! implementation whose API this crate keeps, exported it here as `dtact::topology::Affinity`)
//! and the CPU the calling thread runs on ([`current`], [`current_core`], [`current_raw`]).
//!
//! The CPU is read without libc: the `processor` field (39) of `/proc/thread-self/stat` gives the
//! logical CPU the thread last ran on (what `sched_getcpu()` returns), and sysfs gives its L3
//! cache domain and NUMA node. On systems without these files every id is 0. The answer can be
//! stale as soon as it is returned: the OS may move the thread (worker threads are not pinned).
use std::sync::Mutex;

pub use crate::task::Affinity;

/// Where a CPU sits. The original computed these from CPUID or MPIDR; here they come from the
/// kernel: `core_id` is the logical CPU number (as `sched_getcpu()`), `ccx_id` the id of the L3
/// cache the CPU uses (`/sys/devices/system/cpu/cpuN/cache/index3/id`; the physical package
/// when the cache is not described), `numa_id` its NUMA node (0 without NUMA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CpuLevel {
    /// The logical CPU number.
    pub core_id: u16,
    /// The L3 cache domain ("core complex") id.
    pub ccx_id: u16,
    /// The NUMA node.
    pub numa_id: u16,
}

/// The logical CPU the calling thread last ran on, if the OS says.
pub fn current_cpu() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces and ')', so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts with field 3 (state); field 39 is the processor.
    rest.split_whitespace().nth(39 - 3)?.parse().ok()
}

/// Reads one small integer file.
fn read_num(path: &str) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The L3 domain and NUMA node of `cpu`, from sysfs.
fn groups_of(cpu: usize) -> (u16, u16) {
    let base = format!("/sys/devices/system/cpu/cpu{}", cpu);
    let ccx = read_num(&format!("{}/cache/index3/id", base))
        .or_else(|| read_num(&format!("{}/topology/physical_package_id", base)))
        .unwrap_or(0);
    let numa = std::fs::read_dir(&base)
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("node").and_then(|d| d.parse::<u16>().ok())))
                .next()
        })
        .unwrap_or(0);
    (ccx, numa)
}

/// The caller's CPU, every level read from the OS at each call (several small file reads).
pub fn current_raw() -> CpuLevel {
    match current_cpu() {
        Some(cpu) => {
            let (ccx_id, numa_id) = groups_of(cpu);
            CpuLevel { core_id: cpu as u16, ccx_id, numa_id }
        }
        None => CpuLevel::default(),
    }
}

/// Per CPU: its (L3 domain, NUMA node), once read.
static GROUPS: Mutex<Vec<Option<(u16, u16)>>> = Mutex::new(Vec::new());

/// The caller's CPU: as [`current_raw`], but the L3 domain and NUMA node of each CPU are read
/// once and cached (the CPU number itself is read at every call).
pub fn current() -> CpuLevel {
    let cpu = match current_cpu() {
        Some(c) => c,
        None => return CpuLevel::default(),
    };
    let cached = {
        let g = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        g.get(cpu).copied().flatten()
    };
    let (ccx_id, numa_id) = match cached {
        Some(v) => v,
        None => {
            let v = groups_of(cpu);
            let mut g = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
            if g.len() <= cpu {
                g.resize(cpu + 1, None);
            }
            g[cpu] = Some(v);
            v
        }
    };
    CpuLevel { core_id: cpu as u16, ccx_id, numa_id }
}

/// The caller's logical CPU number (`current().core_id`).
pub fn current_core() -> u16 {
    current().core_id
}
