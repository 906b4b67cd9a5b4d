/* core/prim_linux.c -- Linux implementation of core/prim.h.
 *
 * Futexes are used private (FUTEX_PRIVATE_FLAG): every waiter and waker is in
 * this process. Timeouts are relative (FUTEX_WAIT takes a relative timespec).
 * Topology comes from sysfs: the L3 cache's shared_cpu_list names a CCX (the
 * lowest CPU in the list is its id), and /sys/devices/system/node/nodeN/cpulist
 * the NUMA node; a machine without them is one group.
 */
#include "prim.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int dtact__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT) return -1;
    return 0;
}

void dtact__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

uint64_t dtact__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dtact__sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int dtact__thread_start(dtact__thread_t *t, void *(*fn)(void *), void *arg, const char *name) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (r != 0) return r;
    if (name) pthread_setname_np(th, name);
    t->id = (unsigned long)th;
    return 0;
}

void dtact__thread_join(dtact__thread_t *t) { pthread_join((pthread_t)t->id, NULL); }

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
