/* http: parses what a client sent to `memtop serve`. Bounded by HTTP_REQUEST_MAX; rejects control
 * characters, NULs, and anything but `METHOD /target HTTP/1.x` on the first line. */
#include "cli/http.h"

#include <limits.h>
#include <string.h>

/* end of the headers (a blank line, CRLF or bare LF), or NULL */
static const char *headers_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

static bool parse_request_line(const char *p, const char *eol, struct http_request *r)
{
	size_t m = 0;
	while (p < eol && *p >= 'A' && *p <= 'Z' && m < sizeof r->method - 1)
		r->method[m++] = *p++;
	r->method[m] = '\0';
	if (!m || p >= eol || *p++ != ' ' || p >= eol || *p != '/')
		return false;
	const char *target = p;
	while (p < eol && *p > ' ' && *p < 0x7f)
		p++;
	size_t tlen = (size_t)(p - target);
	if (tlen >= HTTP_TARGET_MAX || p >= eol || *p++ != ' ')
		return false;
	size_t rest = (size_t)(eol - p);
	if (rest < 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    (rest != 8 && !(rest == 9 && p[8] == '\r')))
		return false;
	const char *q = memchr(target, '?', tlen);
	size_t plen = q ? (size_t)(q - target) : tlen;
	memcpy(r->path, target, plen);
	r->path[plen] = '\0';
	size_t qlen = q ? tlen - plen - 1 : 0;
	memcpy(r->query, q ? q + 1 : "", qlen);
	r->query[qlen] = '\0';
	return true;
}

enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *r)
{
	memset(r, 0, sizeof(*r));
	if (memchr(buf, '\0', len))
		return HTTP_BAD;
	const char *eol = memchr(buf, '\n', len);
	if (!eol)
		return len >= HTTP_REQUEST_MAX ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
	if (!parse_request_line(buf, eol, r))
		return HTTP_BAD;
	if (!headers_end(buf, len))
		return len >= HTTP_REQUEST_MAX ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
	return HTTP_COMPLETE;
}

bool http_query_pid(const char *query, int *pid)
{
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > 4 && strncmp(p, "pid=", 4) == 0) {
			long v = 0;
			size_t i = 4;
			for (; i < n && p[i] >= '0' && p[i] <= '9' && v <= INT_MAX / 10; i++)
				v = v * 10 + (p[i] - '0');
			if (i != n || v <= 0 || v > INT_MAX)
				return false;
			*pid = (int)v;
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}
