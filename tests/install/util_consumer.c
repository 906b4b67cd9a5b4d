/* tests/install/util_consumer.c -- a tiny program against an installed libdtact_util
 * (scripts/test-install.sh: pkg-config dtact_util, find_package's dtact::util and
 * dtact::util_static, add_subdirectory): a UDP datagram to itself and a numeric lookup,
 * on the main thread of a program that never creates a runtime. Exits non-zero on a failure. */
#include <stdio.h>
#include <string.h>

#include "dtact_util.h"

int main(void) {
    char addr[DTACT_UTIL_ADDR_MAX], from[DTACT_UTIL_ADDR_MAX], out[64];
    unsigned char buf[8];
    DtactUdpSocket *u = dtact_util_io_udp_bind("127.0.0.1:0");
    if (!u || dtact_util_io_udp_local_addr(u, addr, sizeof addr) != 0 ||
        dtact_util_io_udp_send_to(u, (const unsigned char *)"ok", 2, addr) != 2 ||
        dtact_util_io_udp_recv_from_timeout(u, buf, sizeof buf, from, sizeof from, 5000000000LL) != 2 ||
        strcmp(from, addr) != 0 || dtact_util_io_lookup_host("127.0.0.1:80", out, sizeof out) != 1) {
        fprintf(stderr, "util_consumer: %s\n", dtact_util_last_error_message());
        return 1;
    }
    dtact_util_io_udp_close(u);
    printf("util_consumer: ok (%s)\n", out);
    return 0;
}
