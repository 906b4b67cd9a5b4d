/* core/prim_sysfs.c -- the OS layer's readers of the kernel's text files:
 * the CPU topology (sysfs: the L3 and NUMA groups of a CPU, for the mesh's
 * affinity groups) and a thread's scheduler accounting (procfs: time on a
 * CPU and time waiting for one, for cpushare.c). Split from prim_linux.c,
 * which makes the system calls proper; both are the OS layer (prim.h).
 *
 * Topology: the L3 cache's shared_cpu_list names a CCX (the lowest CPU in the
 * list is its id), and /sys/devices/system/node/nodeN/cpulist the NUMA node;
 * a machine without them is one group.
 */
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* --------------------------------------------------------------- topology */
uint32_t dtact__cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1u;
}

/* First number of a cpulist file ("0-3,8-11" -> 0), or -1. */
static long read_first_cpu(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    long v = -1;
    if (fscanf(fp, "%ld", &v) != 1) v = -1;
    fclose(fp);
    return v;
}

/* Does cpulist file `path` contain cpu? */
static int cpulist_has(const char *path, uint32_t cpu) {
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *p = buf;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p) break;
        long b = a;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            p = end;
        }
        if ((long)cpu >= a && (long)cpu <= b) return 1;
        if (*p == ',') p++;
        else break;
    }
    return 0;
}

void dtact__cpu_groups(uint32_t cpu, uint32_t *ccx, uint32_t *numa) {
    char path[256];
    *ccx = 0;
    *numa = 0;
    for (int idx = 0; idx < 8; idx++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/cache/index%d/level", cpu, idx);
        long level = read_first_cpu(path);
        if (level == 3) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/cache/index%d/shared_cpu_list", cpu, idx);
            long first = read_first_cpu(path);
            if (first >= 0) *ccx = (uint32_t)first;
            break;
        }
    }
    for (uint32_t node = 0; node < 64; node++) {
        snprintf(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", node);
        if (access(path, R_OK) != 0) {
            if (node > 0) break;
            continue;
        }
        if (cpulist_has(path, cpu)) {
            *numa = node;
            break;
        }
    }
}

/* ---------------------------------------------------------- scheduling */
/* The calling thread's scheduler accounting (cpushare.c): time on a CPU and
 * time runnable but waiting for one (run delay), in ns, from
 * /proc/thread-self/schedstat (CONFIG_SCHED_INFO). *fd caches the open file
 * (opened on the first call: pass -1; close it with dtact__fd_close).
 * 0, or -errno (no such file: the measure is unavailable). */
int dtact__thread_schedstat(int *fd, uint64_t *cpu_ns, uint64_t *delay_ns) {
    if (*fd < 0) {
        *fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (*fd < 0) return -errno;
    }
    char buf[96];
    ssize_t n = pread(*fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return n < 0 ? -errno : -ENODATA;
    buf[n] = '\0';
    unsigned long long c, d;
    if (sscanf(buf, "%llu %llu", &c, &d) != 2) return -ENODATA;
    *cpu_ns = c;
    *delay_ns = d;
    return 0;
}
