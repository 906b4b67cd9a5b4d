#!/usr/bin/env python3
"""fuzz/gen_corpus.py -- writes the seed inputs of fuzz/api_fuzz.c to fuzz/corpus/seed-*.

Each seed is a small program in the encoding api_fuzz.c decodes (one byte per
call, then its argument bytes; see the do_* functions there): the scenarios a
random start would take long to reach (a started runtime, fibers interpreting
their own slice, stale handles of destroyed runtimes, inline payloads,
shutdown while fibers wait). Keep the op list in step with enum op.
usage: fuzz/gen_corpus.py [out-dir]
"""
import os
import struct
import sys

OPS = ["INIT", "START", "RUN", "SHUTDOWN", "DESTROY", "LAUNCH", "SPAWN", "SPAWN_INLINE", "AWAIT", "JOIN",
       "DETACH", "IS_FINISHED", "UNPARK", "YIELD", "PARK", "SLEEP", "SELF", "STATS", "DEFLECT", "MISC"]
OP = {n: i for i, n in enumerate(OPS)}

# pick_rt: 0 NULL, 1 a destroyed runtime, 2 not a runtime, 3 the runtime
NULL_RT, STALE_RT, BAD_RT, RT = 0, 1, 2, 3
# pick_timeout indexes: -1, 0, 1, 1000, 100000, 2000000, INT64_MAX, INT64_MIN, -2, INT64_MAX-1, 50
T_FOREVER, T_ZERO, T_1NS, T_1US, T_100US, T_2MS, T_MAX, T_MIN = 0, 1, 2, 3, 4, 5, 6, 7
# do_init tables: caps 0,1,2,3,16,64,1000,16777215,16777216,0xffffffff; stacks 0,1,16K,16K+1,64K,256K,1M,64M,64M+1,~0
CAP_DEFAULT, CAP_1, CAP_2, CAP_16, CAP_64, CAP_HUGE = 0, 1, 2, 4, 5, 8
ST_DEFAULT, ST_1, ST_16K, ST_64K, ST_64M, ST_TOO_BIG = 0, 1, 2, 4, 7, 8


def b(*xs):
    return bytes(xs)


def init(workers=2, safety=1, topo=0, numa=1, cap=CAP_64, stack=ST_64K, null=False):
    if null:
        return b(OP["INIT"], 1)
    return b(OP["INIT"], (workers & 3) << 1, safety, topo, numa, cap, stack)


def start(sel=RT):
    return b(OP["START"], sel)


def run(sel=RT):
    return b(OP["RUN"], sel)


def shutdown():
    return b(OP["SHUTDOWN"])


def destroy(sel=RT):
    return b(OP["DESTROY"], sel)


def opts(kind=1, raw=(0, 0, 0, 0)):
    """kind 0: NULL, 1: default, 2: four bytes & 3, 3: four raw bytes"""
    return b(kind) + (bytes(raw) if kind >= 2 else b())


def slice_(prog):
    assert len(prog) < 48
    return b(len(prog)) + prog


def launch(variant=0, fn=1, cleanup=False, o=None, prog=None):
    """variant: 0 launch, 1 _ext, 2 _with_cleanup, 3 _with_cleanup_ext; fn: 0 NULL, 1 noop, 2 interpreter"""
    if prog is not None:
        fn = 2
    out = b(OP["LAUNCH"], variant | fn << 2 | (0x20 if cleanup else 0))
    if variant & 1:
        out += o if o is not None else opts(1)
    if fn == 2:
        out += slice_(prog or b())
    return out


def attr(joinable=True, wait_if_full=False, stack_idx=0, reserved=False, cleanup=False, o=None, garbage_flags=None):
    """stack_idx: 0,1,16K,16K+1,64K,300000,64M,64M+1,~0"""
    a = 1 | (4 if joinable else 0) | (8 if wait_if_full else 0)
    if reserved:
        a |= 0x30
    elif cleanup:
        a |= 0x10
    if garbage_flags is not None:
        a |= 0xc0
    out = b(a) + (o if o is not None else opts(1))
    if garbage_flags is not None:
        out += struct.pack("<I", garbage_flags)
    return out + b(stack_idx)


def spawn(at=None, null_out=False, null_fn=False, prog=None, inline=None):
    """inline: (size_idx, align_idx, null_payload); sizes 0,1,8,24,200,232,256,257,1000,4096,4097,8192,8193,MAX;
    aligns 0,1,2,3,8,16,64,128,48,MAX"""
    out = b(OP["SPAWN_INLINE" if inline else "SPAWN"]) + (at if at is not None else b(0))
    x = (0 if null_out else 1) | (0 if null_fn else 0x08) | (0x40 if prog is not None else 0)
    out += b(x)
    if prog is not None:
        out += slice_(prog)
    if inline:
        size_idx, align_idx, null_payload = inline
        out += b(size_idx, align_idx, 0 if null_payload else 1)
    return out


def h_slot(k):
    return b(5 | (k << 3))


def h_self():
    return b(3)


def h_garbage(v=0x8000000000000123):
    return b(1) + struct.pack("<Q", v)


def h_forged(v=5):
    return b(2) + struct.pack("<I", v)


def h_flip(k, bit):
    return b(4 | (k << 3), bit)


def await_(h):
    return b(OP["AWAIT"]) + h + b(0)


def join(h, t=T_FOREVER, want_res=True):
    return b(OP["JOIN"]) + h + b(t, 1 if want_res else 0)


def detach(h):
    return b(OP["DETACH"]) + h


def is_finished(h):
    return b(OP["IS_FINISHED"]) + h


def unpark(h):
    return b(OP["UNPARK"]) + h


def yield_():
    return b(OP["YIELD"])


def park(t):
    return b(OP["PARK"], t)


def sleep(idx):
    """0, 1, 1000, 100000, 1000000, INT64_MAX, UINT64_MAX, UINT64_MAX/2+12345"""
    return b(OP["SLEEP"], idx)


def self_():
    return b(OP["SELF"])


def stats(sel=RT, null_out=False, worker=None):
    if worker is None:
        return b(OP["STATS"], sel, 1 if null_out else 0)
    return b(OP["STATS"], sel, 4 | 2 | (1 if null_out else 0)) + struct.pack("<I", worker)


def deflect(worker, queued):
    return b(OP["DEFLECT"], 3) + struct.pack("<II", worker, queued)


def misc(case, extra=b()):
    return b(OP["MISC"], case) + extra


def all_handle_ops(h):
    return await_(h) + join(h, T_ZERO) + join(h, T_1US) + detach(h) + is_finished(h) + unpark(h)


# a fiber's program: everything a fiber may do, its own handle included
FIBER_ALL = (self_() + yield_() + park(T_ZERO) + park(T_1US) + sleep(2) + await_(h_self()) + join(h_self(), T_ZERO)
             + is_finished(h_self()) + unpark(h_self()) + detach(h_self()) + init(null=True) + start(RT) + run(NULL_RT)
             + destroy(RT) + stats())
FIBER_SPAWNER = (spawn(attr()) + join(h_slot(1), T_2MS) + launch(0, 1) + spawn(attr(), inline=(3, 4, False))
                 + join(h_slot(2), T_MAX) + yield_() + sleep(3))

SEEDS = {
    "before-init": all_handle_ops(h_garbage()) + start(NULL_RT) + run(RT) + shutdown() + destroy(NULL_RT)
    + spawn(attr()) + launch(0) + yield_() + park(T_FOREVER) + self_() + stats() + deflect(0, 64) + sleep(3),
    "init-null-destroy": init(null=True) + destroy(NULL_RT),
    "init-twice": init() + init() + init(null=True) + init(stack=ST_TOO_BIG) + destroy(),
    "init-bad-config": init(stack=ST_TOO_BIG) + init(stack=9) + init(safety=200, topo=9, numa=0, cap=CAP_HUGE,
                                                                      stack=ST_1) + destroy(),
    "init-configs": init(workers=1, cap=CAP_1, stack=ST_16K) + destroy() + init(workers=0, cap=9, stack=ST_64M)
    + destroy() + init(workers=3, safety=0, topo=1, cap=CAP_16) + start() + destroy(),
    "start-args": init() + start(BAD_RT) + start(STALE_RT) + start(NULL_RT) + start(RT) + run(RT) + shutdown()
    + start() + destroy(BAD_RT) + destroy(),
    "spawn-join-twice": init() + start() + spawn(attr()) + join(h_slot(0)) + join(h_slot(0)) + detach(h_slot(0))
    + await_(h_slot(0)) + is_finished(h_slot(0)) + destroy(),
    "detach-twice": init() + start() + spawn(attr()) + detach(h_slot(0)) + detach(h_slot(0)) + await_(h_slot(0))
    + join(h_slot(0), T_FOREVER) + destroy(),
    "not-started": init() + spawn(attr(cleanup=True)) + launch(2, 1, cleanup=True) + await_(h_slot(0))
    + join(h_slot(1), T_1US) + join(h_slot(1), T_ZERO) + destroy(),
    "run-blocking": init() + launch(2, 1, cleanup=True) + spawn(attr()) + run(NULL_RT) + join(h_slot(1))
    + run() + destroy(),
    "shutdown-then-spawn": init() + start() + spawn(attr()) + shutdown() + shutdown() + spawn(attr()) + launch(0)
    + await_(h_slot(0)) + destroy(),
    "stale-runtime-handles": init() + start() + spawn(attr()) + spawn(attr(joinable=False)) + destroy()
    + all_handle_ops(h_slot(0)) + init() + start() + all_handle_ops(h_slot(0)) + all_handle_ops(h_slot(1))
    + start(STALE_RT) + destroy(STALE_RT) + destroy(),
    "garbage-handles": init() + start() + all_handle_ops(b(0)) + all_handle_ops(h_garbage())
    + all_handle_ops(h_forged(1)) + all_handle_ops(h_forged(0xffffff)) + spawn(attr())
    + all_handle_ops(h_flip(0, 30)) + all_handle_ops(h_flip(0, 62)) + destroy(),
    "fiber-all": init() + start() + launch(0, prog=FIBER_ALL) + await_(h_slot(0)) + destroy(),
    "fiber-all-spawned": init() + start() + spawn(attr(), prog=FIBER_ALL) + join(h_slot(0), T_MAX) + destroy(),
    "fiber-spawner": init() + start() + spawn(attr(), prog=FIBER_SPAWNER) + join(h_slot(0)) + destroy(),
    "fiber-nested": init() + start() + spawn(attr(), prog=spawn(attr(), prog=FIBER_ALL[:40]) + join(h_slot(1)))
    + join(h_slot(0)) + destroy(),
    "fiber-park-forever": init() + start() + spawn(attr(), prog=park(T_FOREVER) + park(T_MIN)) + join(h_slot(0))
    + destroy(),
    "fiber-park-unpark": init() + start() + spawn(attr(), prog=park(T_FOREVER) + yield_()) + sleep(3)
    + unpark(h_slot(0)) + join(h_slot(0), T_2MS) + unpark(h_slot(0)) + destroy(),
    "fiber-sleep-long": init() + start() + spawn(attr(), prog=sleep(5) + sleep(6) + sleep(7)) + destroy(),
    "fiber-await-cycle": init() + start() + spawn(attr(), prog=await_(h_slot(1))) + spawn(attr(), prog=await_(h_slot(0)))
    + await_(h_slot(0)) + destroy(),
    "fiber-run-destroy": init() + spawn(attr(), prog=run(RT) + start(BAD_RT) + destroy(NULL_RT) + shutdown())
    + start() + join(h_slot(0)) + destroy(),
    "fiber-lifecycle-race": init() + start() + launch(0, prog=init() + yield_() + init(null=True) + shutdown())
    + destroy(),
    # the fiber is woken by destroy's shutdown and calls dtact_init while destroy holds the lifecycle lock
    "fiber-init-during-destroy": init() + start() + launch(0, prog=park(T_FOREVER) + init(null=True)) + sleep(3)
    + destroy(),
    "inline-sizes": init() + start() + spawn(attr(), inline=(1, 1, False)) + spawn(attr(), inline=(3, 4, False))
    + spawn(attr(), inline=(5, 5, False)) + spawn(attr(), inline=(6, 1, False)) + spawn(attr(), inline=(0, 4, False))
    + spawn(attr(), inline=(12, 4, False)) + spawn(attr(), inline=(3, 3, False)) + spawn(attr(), inline=(3, 7, False))
    + spawn(attr(), inline=(3, 4, True)) + spawn(attr(), inline=(13, 9, False)) + join(h_slot(0)) + join(h_slot(1))
    + destroy(),
    "inline-interp": init() + start() + spawn(attr(cleanup=True), prog=FIBER_ALL[:30], inline=(3, 4, False))
    + join(h_slot(0)) + destroy(),
    "spawn-bad-attrs": init() + start() + spawn(attr(reserved=True)) + spawn(attr(stack_idx=8))
    + spawn(attr(stack_idx=7)) + spawn(attr(garbage_flags=0x80)) + spawn(attr(o=opts(3, (9, 9, 9, 9))))
    + spawn(null_out=True) + spawn(null_fn=True) + spawn(attr(stack_idx=1)) + spawn(attr(stack_idx=6))
    + launch(1, 1, o=opts(3, (0, 0, 0, 4))) + launch(0, 0) + launch(3, 1, True, o=opts(2, (3, 3, 3, 3))) + destroy(),
    "exhausted": init(cap=CAP_1) + spawn(attr()) + spawn(attr()) + spawn(attr(wait_if_full=True)) + start()
    + spawn(attr(wait_if_full=True)) + join(h_slot(0)) + destroy(),
    "exhausted-fiber-wait": init(cap=CAP_2) + start() + spawn(attr(), prog=spawn(attr(wait_if_full=True))
                                                              + spawn(attr(wait_if_full=True)) + yield_())
    + join(h_slot(0)) + destroy(),
    "small-stacks": init(stack=ST_16K) + start() + launch(0, prog=FIBER_ALL) + spawn(attr(stack_idx=2), prog=FIBER_ALL)
    + spawn(attr(stack_idx=4), prog=FIBER_ALL[:20]) + join(h_slot(1)) + destroy(),
    "switchers-pinned": init(workers=2) + start() + launch(1, o=opts(2, (3, 0, 1, 2)), prog=yield_() + yield_())
    + launch(1, o=opts(2, (0, 1, 3, 3)), prog=yield_()) + launch(1, o=opts(2, (2, 2, 2, 1)), prog=park(T_1US))
    + await_(h_slot(0)) + destroy(),
    "stats-deflect-misc": init() + stats() + stats(NULL_RT) + stats(BAD_RT) + stats(null_out=True)
    + stats(worker=1) + stats(worker=7) + deflect(0, 31) + deflect(0, 32) + deflect(9, 64) + deflect(1, 0xffffffff)
    + misc(0, struct.pack("<i", -99)) + misc(1) + misc(9) + misc(2) + misc(3) + misc(11) + misc(4) + misc(5)
    + destroy() + stats() + deflect(0, 64),
    "host-fiber-ops": init() + start() + yield_() + park(T_ZERO) + park(T_FOREVER) + sleep(6) + self_()
    + await_(h_self()) + join(h_self()) + destroy(),
    "sleep-overflow": init() + start() + spawn(attr(), prog=sleep(6)) + join(h_slot(0), T_2MS) + destroy(),
    "reinit-loop": (init(null=True) + start() + spawn(attr()) + destroy()) * 4 + all_handle_ops(h_slot(2)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"gen_corpus: {len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
