/* http: the request parser of `memtop serve`, alone so that it can be fuzzed. Reads only the
 * request line (method, path, query) and the end of the headers from a bounded buffer; anything
 * it does not expect is HTTP_BAD, never a guess. Pure: no I/O, no allocation. */
#ifndef MEMTOP_HTTP_H
#define MEMTOP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_REQUEST_MAX 8192 /* request line and headers: more is refused (431) */
#define HTTP_TARGET_MAX 512

enum http_parse { HTTP_INCOMPLETE, HTTP_COMPLETE, HTTP_BAD, HTTP_TOO_LARGE };

struct http_request {
	char method[8];
	char path[HTTP_TARGET_MAX];
	char query[HTTP_TARGET_MAX]; /* after '?', "" when none */
};

/* buf[0..len): what has arrived so far. HTTP_COMPLETE once the headers' blank line is there. */
enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *r);
/* The value of pid=N in a query ("a=1&pid=42"): true with *pid > 0, false when absent or not a
 * plain positive number. */
bool http_query_pid(const char *query, int *pid);

#endif
