/* tests/switch_cross_thread_tls.c
 * Description: a cross-thread fiber suspended on thread A and resumed from
 * thread B sees thread B's errno and __thread variables when it re-reads them
 * through a non-inlined accessor after the resume: no variant saves the TLS
 * base (FS / TPIDR_EL0), so TLS follows the thread. Reading TLS through an
 * address cached before the suspension would still name thread A's variable;
 * that hazard is documented in asm/swap_*_elf_gas.S and is why the accessors
 * below are opaque.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "test_util.h"

static __thread int ct_tls_var;

TU_OPAQUE static int *ct_errno_addr(void) { return &errno; }
TU_OPAQUE static int *ct_tls_addr(void) { return &ct_tls_var; }
TU_OPAQUE static int ct_read_errno(void) { return *ct_errno_addr(); }
TU_OPAQUE static int ct_read_tls(void) { return *ct_tls_addr(); }

typedef struct ct_seen {
    int err, tls;
    int *err_addr, *tls_addr;
    pthread_t self;
} ct_seen;

static unsigned ct_variant;
static tu_ctx ct_ctx_a, ct_ctx_b, ct_fib;
static ct_seen ct_on_a, ct_on_b, ct_thread_a, ct_thread_b;

static void ct_look(ct_seen *s) {
    s->err = ct_read_errno();
    s->tls = ct_read_tls();
    s->err_addr = ct_errno_addr();
    s->tls_addr = ct_tls_addr();
    s->self = pthread_self();
}

static void ct_entry(void *arg) {
    (void)arg;
    TU_FIBER_START();
    ct_look(&ct_on_a);                         /* running on thread A */
    tu_switch(ct_variant, &ct_fib, &ct_ctx_a); /* suspend on A ... */
    ct_look(&ct_on_b);                         /* ... resumed by B: re-read TLS */
    tu_switch(ct_variant, &ct_fib, &ct_ctx_b);
    abort();
}

static void *ct_thread_b_main(void *arg) {
    (void)arg;
    errno = 2222;
    ct_tls_var = 0xB;
    tu_ctx_init_thread(&ct_ctx_b);
    tu_switch(ct_variant, &ct_ctx_b, &ct_fib);
    ct_look(&ct_thread_b);
    return NULL;
}

static void ct_run(unsigned v) {
    tu_stack st;
    cr_assert_eq(tu_stack_alloc(&st, 256 * 1024), 0, "mmap");
    ct_variant = v;
    memset(&ct_on_a, 0, sizeof ct_on_a);
    memset(&ct_on_b, 0, sizeof ct_on_b);
    tu_ctx_init_thread(&ct_ctx_a);
    tu_ctx_make(&ct_fib, &st, ct_entry, NULL, v);

    errno = 1111;
    ct_tls_var = 0xA;
    tu_switch(v, &ct_ctx_a, &ct_fib);
    ct_look(&ct_thread_a);

    pthread_t b;
    cr_assert_eq(pthread_create(&b, NULL, ct_thread_b_main, NULL), 0, "pthread_create");
    cr_assert_eq(pthread_join(b, NULL), 0, "pthread_join");
    tu_ctx_destroy(&ct_fib);
    tu_stack_free(&st);

    const char *n = tu_variant_name(v);
    cr_assert(pthread_equal(ct_on_a.self, ct_thread_a.self), "%s: first run not on A", n);
    cr_assert_eq(ct_on_a.err, 1111, "%s: errno on A", n);
    cr_assert_eq(ct_on_a.tls, 0xA, "%s: __thread on A", n);
    cr_assert_eq(ct_on_a.err_addr, ct_thread_a.err_addr, "%s: &errno on A", n);
    cr_assert_eq(ct_on_a.tls_addr, ct_thread_a.tls_addr, "%s: &tls on A", n);

    cr_assert(pthread_equal(ct_on_b.self, ct_thread_b.self), "%s: resumed fiber does not run on B", n);
    cr_assert(!pthread_equal(ct_on_b.self, ct_on_a.self), "%s: A and B are the same thread", n);
    cr_assert_eq(ct_on_b.err, 2222, "%s: after the resume errno reads %d, not thread B's", n, ct_on_b.err);
    cr_assert_eq(ct_on_b.tls, 0xB, "%s: after the resume __thread reads %#x, not thread B's", n, ct_on_b.tls);
    cr_assert_eq(ct_on_b.err_addr, ct_thread_b.err_addr, "%s: &errno after the resume is not B's", n);
    cr_assert_eq(ct_on_b.tls_addr, ct_thread_b.tls_addr, "%s: &tls after the resume is not B's", n);
    cr_assert_neq(ct_on_b.err_addr, ct_on_a.err_addr, "%s: &errno did not change with the thread", n);
    cr_assert_neq(ct_on_b.tls_addr, ct_on_a.tls_addr, "%s: &tls did not change with the thread", n);
}

Test(switch_cross_thread_tls, cross_fp) { ct_run(DTACT__SW_CROSS_FP); }
Test(switch_cross_thread_tls, cross_nofp) { ct_run(DTACT__SW_CROSS_NOFP); }
