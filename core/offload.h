/* core/offload.h -- the blocking offload pool behind dtact_blocking (offload.c).
 *
 * The public calls are in ffi/include/dtact.h ("blocking offload"); this header
 * only exposes the pool's state to the tests (tests/offload.c links the static
 * library and includes core/), so that they can observe growth and shrinking
 * without timing guesses.
 */
#ifndef DTACT_CORE_OFFLOAD_H
#define DTACT_CORE_OFFLOAD_H

#include <stdint.h>

/* Helper threads alive now (started, not yet exited), and how many of them
 * are idle, waiting for work (read under the pool lock: a snapshot). */
uint32_t dtact__offload_threads(void);
uint32_t dtact__offload_idle(void);
/* How long an idle helper waits for work before it exits (default 10 s); for
 * tests. Idle helpers restart their wait with it. */
void dtact__offload_set_idle_ns(uint64_t ns);

#endif /* DTACT_CORE_OFFLOAD_H */
