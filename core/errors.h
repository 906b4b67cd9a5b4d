/* core/errors.h -- error reporting shared by every core file (errors.c): the
 * per-thread last error behind dtact_last_error, and the one way the library
 * dies on a broken internal invariant. */
#ifndef DTACT_CORE_ERRORS_H
#define DTACT_CORE_ERRORS_H

/* Stores `code` as the calling thread's last error and returns it. */
int dtact__set_error(int code);

/* Reports a DTACT_WARN_* warning to the process's handler (dtact.h). */
void dtact__warn(int code, const char *message);

/* Prints "dtact: <what>: <detail>" to stderr and aborts. Only for memory
 * corruption and broken internal invariants, never for bad input. */
void dtact__fatal(const char *what, const char *detail) __attribute__((noreturn));

#endif /* DTACT_CORE_ERRORS_H */
