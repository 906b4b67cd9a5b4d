#!/usr/bin/env python3
"""scripts/check-core.py -- checks the shape of core/ that docs/architecture.md promises.

  1. No call cycle between files: file A "calls" file B when A calls a function
     defined in B (a static inline function in a header counts for no file). The
     graph must be acyclic; with --graph the layers (longest path from the
     bottom) are printed.
  2. No system call outside the OS layer (core/prim_linux.c, core/prim_sysfs.c
     (the kernel's text files: topology, scheduler accounting), and
     core/prim_uring.c: the readiness sets over epoll or io_uring).
  3. No core file over 600 lines.

Exit status 0 when all hold, 1 otherwise (each violation printed).
usage: scripts/check-core.py [--graph] [core-dir]
"""
import os
import re
import sys

MAX_LINES = 600
OS_LAYER = {"prim_linux.c", "prim_uring.c", "prim_sysfs.c"}
# Direct system calls and their thin libc wrappers (not the C library's
# portable calls such as malloc, memcpy or fprintf).
SYSCALLS = [
    "mmap", "munmap", "mprotect", "madvise", "mremap", "sigaction", "sigaltstack", "signal",
    "getrandom", "open", "openat", "read", "write", "close", "syscall", "sched_yield",
    "nanosleep", "usleep", "clock_gettime", "sysconf", "getpid", "gettid", "prctl",
    "pthread_create", "pthread_join", "pthread_setname_np", "pthread_attr_init",
    "pthread_mutex_lock", "pthread_mutex_unlock", "fopen", "fscanf", "access",
]

DEF_RE = re.compile(r"^(?:[A-Za-z_][\w \t\*\(\)]*?[\s\*])?(dtact_\w+)\s*\([^;]*$")
CALL_RE = re.compile(r"\b(dtact_\w+)\s*\(")
SYS_RE = re.compile(r"(?<![\w.>])(" + "|".join(SYSCALLS) + r")\s*\(")


def strip(text):
    """Removes comments and string literals, keeping line structure."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return text


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    graph_out = "--graph" in sys.argv
    core = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core")
    files = sorted(f for f in os.listdir(core) if f.endswith(".c"))
    headers = sorted(f for f in os.listdir(core) if f.endswith(".h"))
    problems = []
    defined = {}  # function -> file
    texts = {}
    for f in files + headers:
        with open(os.path.join(core, f), encoding="utf-8") as fh:
            raw = fh.read()
        n = raw.count("\n")
        if n > MAX_LINES:
            problems.append(f"core/{f}: {n} lines (limit {MAX_LINES})")
        texts[f] = strip(raw)
    for f in files:
        depth = 0
        for line in texts[f].split("\n"):
            if depth == 0:
                m = DEF_RE.match(line)
                if m and not line.lstrip().startswith(("return", "if", "while", "for", "#")):
                    defined.setdefault(m.group(1), f)
            depth += line.count("{") - line.count("}")
    edges = {f: set() for f in files}
    for f in files:
        for name in CALL_RE.findall(texts[f]):
            g = defined.get(name)
            if g and g != f:
                edges[f].add(g)
        if f not in OS_LAYER:
            for i, line in enumerate(texts[f].split("\n"), 1):
                for name in SYS_RE.findall(line):
                    problems.append(f"core/{f}:{i}: system call {name}() outside the OS layer")
    # Cycle detection (iterative DFS with colours), reporting one cycle per back edge.
    colour = {f: 0 for f in files}
    stack = []

    def dfs(u):
        colour[u] = 1
        stack.append(u)
        for v in sorted(edges[u]):
            if colour[v] == 1:
                cyc = stack[stack.index(v):] + [v]
                problems.append("call cycle: " + " -> ".join(cyc))
            elif colour[v] == 0:
                dfs(v)
        stack.pop()
        colour[u] = 2

    for f in files:
        if colour[f] == 0:
            dfs(f)
    if graph_out and not any(p.startswith("call cycle") for p in problems):
        level = {}

        def lvl(u):
            if u not in level:
                level[u] = 1 + max((lvl(v) for v in edges[u]), default=-1)
            return level[u]

        for f in files:
            lvl(f)
        for k in range(max(level.values()) + 1):
            row = [f for f in files if level[f] == k]
            print(f"layer {k}: " + ", ".join(row))
        for f in files:
            if edges[f]:
                print(f"  {f} -> " + ", ".join(sorted(edges[f])))
    for p in problems:
        print(p)
    if problems:
        print(f"check-core: {len(problems)} problem(s)")
        return 1
    print(f"check-core: {len(files)} files, no call cycle, no system call outside the OS layer, none over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
