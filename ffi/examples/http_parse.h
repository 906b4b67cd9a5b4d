/* ffi/examples/http_parse.h -- the HTTP/1.1 request-head parser of the example
 * ffi/examples/http_server.c (and of its test, tests/util_examples.c).
 *
 * Header-only, no allocation, no I/O, no locale: http_parse_request() looks at
 * the bytes received so far and says whether they start with a complete,
 * valid request head (and its length, so that pipelined requests follow it in
 * the same buffer), need more bytes, or can never become a valid head. It
 * rescans from the start on each call: heads are small and a server calls it
 * once per read, so that costs less than keeping state across reads.
 *
 * Strict where leniency is a risk (RFC 9112): CRLF line ends only (a bare LF
 * or any control character is an error), no whitespace before a header's
 * colon, no obsolete line folding, one Host header required in HTTP/1.1,
 * Content-Length digits only and never two different values, and
 * Transfer-Encoding refused (this parser does not decode chunked bodies; a
 * server that ignored it would read the body as the next request). Invalid
 * bytes are rejected as soon as they arrive, not after the head limit.
 * Lenient where that is harmless: empty lines before the request line are
 * skipped (RFC 9112 2.2), any HTTP/1.x minor version is taken as 1.1.
 */
#ifndef DTACT_EXAMPLE_HTTP_PARSE_H
#define DTACT_EXAMPLE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum http_parse_result {
    HTTP_PARSE_OK = 1,         /* a complete head: *req describes it */
    HTTP_PARSE_INCOMPLETE = 0, /* valid so far: read more */
    HTTP_PARSE_BAD = -1,       /* answer 400 and close */
    HTTP_PARSE_TOO_LARGE = -2, /* no end of head within max_head bytes: answer 431 and close */
};

struct http_request {
    const char *method; /* points into the buffer; not NUL-terminated */
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version;       /* HTTP/1.<minor_version> */
    int keep_alive;          /* the connection stays open after the response */
    uint64_t content_length; /* body bytes that follow the head (0 when none) */
    size_t head_len;         /* bytes of the head, request line to the empty line included */
};

/* RFC 9110 5.6.2: the characters of a token (methods, header names, Connection options). */
static inline int http_is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The token s[0..n) equals the lower-case word `lower`, ignoring ASCII case. */
static inline int http_token_is(const char *s, size_t n, const char *lower) {
    size_t i = 0;
    for (; i < n && lower[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lower[i]) return 0;
    }
    return i == n && lower[i] == 0;
}

/* Consumes CRLF at p[*i]: 1 done, 0 need more bytes, -1 anything else. */
static inline int http_crlf(const char *p, size_t n, size_t *i) {
    if (*i < n && p[*i] != '\r') return -1;
    if (*i + 1 < n && p[*i + 1] != '\n') return -1;
    if (*i + 2 > n) return 0;
    *i += 2;
    return 1;
}

/* Applies one header field (name and trimmed value) to *req; 0 or HTTP_PARSE_BAD. */
static inline int http_apply_header(struct http_request *req, const char *name, size_t name_len, const char *v,
                                    size_t vlen, int *have_host, int *have_length, int *want_close, int *want_keep) {
    if (http_token_is(name, name_len, "host")) {
        if ((*have_host)++) return HTTP_PARSE_BAD; /* RFC 9112 3.2: exactly one */
    } else if (http_token_is(name, name_len, "content-length")) {
        uint64_t x = 0;
        if (vlen == 0) return HTTP_PARSE_BAD;
        for (size_t k = 0; k < vlen; k++) {
            if (v[k] < '0' || v[k] > '9' || x > (UINT64_MAX - 9) / 10) return HTTP_PARSE_BAD;
            x = x * 10 + (uint64_t)(v[k] - '0');
        }
        if (*have_length && x != req->content_length) return HTTP_PARSE_BAD;
        *have_length = 1;
        req->content_length = x;
    } else if (http_token_is(name, name_len, "transfer-encoding")) {
        return HTTP_PARSE_BAD; /* chunked bodies are not decoded here */
    } else if (http_token_is(name, name_len, "connection")) {
        /* a comma-separated list of options: "close", "keep-alive", others ignored */
        size_t k = 0;
        while (k < vlen) {
            while (k < vlen && (v[k] == ' ' || v[k] == '\t' || v[k] == ','))
                k++;
            size_t s = k;
            while (k < vlen && v[k] != ',' && v[k] != ' ' && v[k] != '\t')
                k++;
            if (http_token_is(v + s, k - s, "close")) *want_close = 1;
            if (http_token_is(v + s, k - s, "keep-alive")) *want_keep = 1;
        }
    }
    return 0;
}

/* Parses the head at p[0..n), all of which lies within the head limit. */
static inline int http_parse_head(const char *p, size_t n, struct http_request *req) {
    size_t i = 0, s;
    int r;
    memset(req, 0, sizeof *req);

    /* empty lines before the request line */
    while (i < n && p[i] == '\r') {
        if ((r = http_crlf(p, n, &i)) <= 0) return r < 0 ? HTTP_PARSE_BAD : HTTP_PARSE_INCOMPLETE;
    }

    /* request-line = method SP request-target SP "HTTP/1." DIGIT CRLF */
    for (s = i; i < n && http_is_tchar((unsigned char)p[i]); i++) {
    }
    if (i == n) return HTTP_PARSE_INCOMPLETE;
    if (i == s || p[i] != ' ') return HTTP_PARSE_BAD;
    req->method = p + s;
    req->method_len = i - s;
    for (s = ++i; i < n && (unsigned char)p[i] > ' ' && (unsigned char)p[i] != 0x7f; i++) {
    }
    if (i == n) return HTTP_PARSE_INCOMPLETE;
    if (i == s || p[i] != ' ') return HTTP_PARSE_BAD;
    req->target = p + s;
    req->target_len = i - s;
    i++;
    static const char version[] = "HTTP/1.";
    for (size_t k = 0; k < sizeof version - 1; k++, i++) {
        if (i == n) return HTTP_PARSE_INCOMPLETE;
        if (p[i] != version[k]) return HTTP_PARSE_BAD;
    }
    if (i == n) return HTTP_PARSE_INCOMPLETE;
    if (p[i] < '0' || p[i] > '9') return HTTP_PARSE_BAD;
    req->minor_version = p[i++] - '0';
    if ((r = http_crlf(p, n, &i)) <= 0) return r < 0 ? HTTP_PARSE_BAD : HTTP_PARSE_INCOMPLETE;

    /* header fields: name ":" OWS value OWS CRLF, up to an empty line */
    int have_host = 0, have_length = 0, want_close = 0, want_keep = 0;
    for (;;) {
        if (i == n) return HTTP_PARSE_INCOMPLETE;
        if (p[i] == '\r') {
            if ((r = http_crlf(p, n, &i)) <= 0) return r < 0 ? HTTP_PARSE_BAD : HTTP_PARSE_INCOMPLETE;
            break;
        }
        for (s = i; i < n && http_is_tchar((unsigned char)p[i]); i++) {
        }
        if (i == n) return HTTP_PARSE_INCOMPLETE;
        if (i == s || p[i] != ':') return HTTP_PARSE_BAD; /* also folding and space before ':' */
        const char *name = p + s;
        size_t name_len = i - s;
        for (i++; i < n && (p[i] == ' ' || p[i] == '\t'); i++) {
        }
        for (s = i; i < n && (p[i] == '\t' || ((unsigned char)p[i] >= ' ' && (unsigned char)p[i] != 0x7f)); i++) {
        }
        if (i == n) return HTTP_PARSE_INCOMPLETE;
        size_t e = i;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        if ((r = http_crlf(p, n, &i)) <= 0) return r < 0 ? HTTP_PARSE_BAD : HTTP_PARSE_INCOMPLETE;
        if (http_apply_header(req, name, name_len, p + s, e - s, &have_host, &have_length, &want_close, &want_keep) < 0)
            return HTTP_PARSE_BAD;
    }
    if (req->minor_version >= 1 && !have_host) return HTTP_PARSE_BAD;
    /* HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless asked to keep it */
    req->keep_alive = !want_close && (req->minor_version >= 1 || want_keep);
    req->head_len = i;
    return HTTP_PARSE_OK;
}

/* http_parse_request() parses the request head at the start of buf[0..len):
 * HTTP_PARSE_OK (and *req filled: the head is req->head_len bytes, its body
 * req->content_length more), HTTP_PARSE_INCOMPLETE, HTTP_PARSE_BAD, or
 * HTTP_PARSE_TOO_LARGE when max_head bytes hold no complete head. */
static inline int http_parse_request(const char *buf, size_t len, size_t max_head, struct http_request *req) {
    int r = http_parse_head(buf, len < max_head ? len : max_head, req);
    if (r == HTTP_PARSE_INCOMPLETE && len >= max_head) return HTTP_PARSE_TOO_LARGE;
    return r;
}

#endif
