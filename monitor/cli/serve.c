/* serve: `memtop serve`, heap profiles over HTTP the way Go programs expose them:
 * GET /debug/pprof/heap?pid=N (gzipped pprof) and GET / (the user's traced processes, plain text).
 * Loopback unless --allow-remote; only the running user's processes; one forked child per request,
 * at most SERVE_MAX_CHILDREN at once, each bounded in time, so a bad or slow client harms no other
 * and never the server. The parent never attaches a session (it stays single-threaded to fork). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "cli/export_cmd.h"
#include "cli/http.h"
#include "export/export.h"
#include "session/session.h"
#include "shm.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:6060"
#define SERVE_MAX_CHILDREN 16
#define SERVE_READ_MS 5000      /* the whole request must arrive within this */
#define SERVE_REQUEST_S 90      /* a child lives at most this long (attach, drain, symbols, send) */
#define SERVE_BUSY_DRAIN_MS 100 /* longest the parent reads a request it answers 503 */

static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static int serve_fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "memtop: serve: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* ---- one request, in a child */

static void send_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, int status, const char *reason, const char *type, const void *body,
		    size_t len, bool head_only)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n", status, reason, type, len);
	send_all(fd, hdr, (size_t)n);
	if (!head_only)
		send_all(fd, body, len);
}

static void respond_text(int fd, int status, const char *reason, const char *text, bool head_only)
{
	respond(fd, status, reason, "text/plain; charset=utf-8", text, strlen(text), head_only);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads until the headers are complete, HTTP_REQUEST_MAX bytes, or SERVE_READ_MS. */
static enum http_parse read_request(int fd, struct http_request *r)
{
	char buf[HTTP_REQUEST_MAX];
	size_t len = 0;
	uint64_t deadline = now_ms() + SERVE_READ_MS;
	enum http_parse st = HTTP_INCOMPLETE;
	while (st == HTTP_INCOMPLETE) {
		uint64_t now = now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return HTTP_INCOMPLETE;
		ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
		if (n <= 0)
			return HTTP_INCOMPLETE;
		len += (size_t)n;
		st = http_parse_request(buf, len, r);
		if (st == HTTP_INCOMPLETE && len == sizeof buf)
			st = HTTP_TOO_LARGE;
	}
	return st;
}

/* One line per live traced process of this user: "PID HEAP_BYTES EXE". Segments are read, never
 * claimed; another user's, stale or unreadable ones are left out. */
static void list_segments(FILE *out)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char *end;
		long pid = strncmp(de->d_name, "memtop.", 7) == 0 ? strtol(de->d_name + 7, &end, 10) : 0;
		if (pid <= 0 || *end)
			continue;
		struct shm_segment seg;
		char err[256];
		if (shm_segment_open(&seg, (pid_t)pid, false, err, sizeof err) != 0)
			continue;
		struct memtop_seg_header h;
		struct memtop_counters c = {0};
		if (shm_header_read(&seg, &h) == 0 && h.uid == getuid() && !shm_segment_is_stale(&h)) {
			shm_totals(&seg, &c);
			h.exe[sizeof h.exe - 1] = '\0';
			fprintf(out, "%ld %" PRIu64 " %s\n", pid, c.usable_alloc - c.usable_freed, h.exe);
		}
		shm_segment_close(&seg, false);
	}
	if (d)
		closedir(d);
}

/* The user's traced processes, one per line: pid, heap bytes in use, command. */
static void serve_list(int fd, bool head_only)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out) {
		respond_text(fd, 500, "Internal Server Error", "out of memory\n", head_only);
		return;
	}
	fprintf(out, "# memtop %s: traced processes of uid %u: PID HEAP_BYTES EXE (profile: "
		"/debug/pprof/heap?pid=PID)\n",
		MEMTOP_VERSION, (unsigned)getuid());
	list_segments(out);
	fclose(out);
	respond(fd, 200, "OK", "text/plain; charset=utf-8", text, len, head_only);
	free(text);
}

static bool owned_by_user(int pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", pid);
	return stat(path, &st) == 0 && st.st_uid == getuid();
}

static void serve_heap(int fd, const struct http_request *r, bool no_symbols, bool head_only)
{
	int pid = 0;
	char err[512], msg[700];
	if (!http_query_pid(r->query, &pid)) {
		respond_text(fd, 400, "Bad Request", "give the process: /debug/pprof/heap?pid=PID "
			     "(the list is at /)\n", head_only);
		return;
	}
	if (!owned_by_user(pid)) {
		snprintf(msg, sizeof msg, "no process %d of this user\n", pid);
		respond_text(fd, 404, "Not Found", msg, head_only);
		return;
	}
	urcu_memb_register_thread();
	struct session_options so;
	session_default_options(&so);
	so.no_symbols = no_symbols;
	struct session *s = session_attach(pid, &so, err, sizeof err);
	if (!s || session_start(s, err, sizeof err) != 0) {
		session_destroy(s);
		snprintf(msg, sizeof msg, "%s\n", err);
		respond_text(fd, 404, "Not Found", msg, head_only);
		return;
	}
	session_wait_drained(s, 5000);
	struct snapshot_options snap;
	snapshot_default_options(&snap);
	snap.symbols_wait_ms = 10000;
	struct export_options eo = {.format = EXPORT_PPROF};
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	int rc = out ? export_session(s, out, &snap, &eo, err, sizeof err) : -1;
	if (out)
		fclose(out);
	session_destroy(s);
	if (rc) {
		snprintf(msg, sizeof msg, "%s\n", out ? err : "out of memory");
		respond_text(fd, 500, "Internal Server Error", msg, head_only);
	} else {
		respond(fd, 200, "OK", "application/octet-stream", body, len, head_only);
	}
	free(body);
}

static void serve_one(int fd, bool no_symbols)
{
	struct http_request r;
	switch (read_request(fd, &r)) {
	case HTTP_INCOMPLETE:
		return; /* gone or too slow: nothing to answer to */
	case HTTP_BAD:
		respond_text(fd, 400, "Bad Request", "malformed request\n", false);
		return;
	case HTTP_TOO_LARGE:
		respond_text(fd, 431, "Request Header Fields Too Large", "request too large\n", false);
		return;
	case HTTP_COMPLETE:
		break;
	}
	bool head = strcmp(r.method, "HEAD") == 0;
	if (!head && strcmp(r.method, "GET") != 0)
		respond_text(fd, 405, "Method Not Allowed", "only GET and HEAD\n", false);
	else if (strcmp(r.path, "/") == 0)
		serve_list(fd, head);
	else if (strcmp(r.path, "/debug/pprof/heap") == 0)
		serve_heap(fd, &r, no_symbols, head);
	else
		respond_text(fd, 404, "Not Found", "not found: GET / or /debug/pprof/heap?pid=PID\n", head);
}

/* ---- the listening parent */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* ADDR:PORT, [ADDR6]:PORT or localhost:PORT into a bound, listening socket; -1 after saying why. */
static int listen_on(const char *spec, bool allow_remote)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || strlen(spec) >= sizeof host)
		return serve_fail("--listen needs ADDR:PORT (e.g. 127.0.0.1:6060), not '%s'", spec), -1;
	size_t hl = (size_t)(colon - spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return serve_fail("--listen needs a port from 0 to 65535, not '%s'", colon + 1), -1;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
	if (strcmp(host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
		return serve_fail("--listen: '%s' is not a numeric address (or localhost)", host), -1;
	if (!is_loopback(ai->ai_addr) && !allow_remote) {
		freeaddrinfo(ai);
		return serve_fail("%s is not a loopback address: heap profiles name your code and data; "
				  "add --allow-remote to serve them beyond this machine", host), -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		int e = errno;
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "memtop: serve: cannot listen on %s: %s\n", spec, strerror(e));
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void print_address(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?", port[16] = "?";
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
			    NI_NUMERICHOST | NI_NUMERICSERV);
	bool v6 = ss.ss_family == AF_INET6;
	/* the first line of stdout, read by scripts that asked for port 0 */
	printf("memtop: serving http://%s%s%s:%s/ (heap profiles at /debug/pprof/heap?pid=PID)\n",
	       v6 ? "[" : "", host, v6 ? "]" : "", port);
	fflush(stdout);
}

static void reap(int *children)
{
	while (*children > 0 && waitpid(-1, NULL, WNOHANG) > 0)
		(*children)--;
}

/* One read of what the client sends, waiting at most until SERVE_BUSY_DRAIN_MS after t0: the
 * bytes read, or 0 at its EOF, on an error or when the time is up. */
static size_t recv_before(int fd, const struct timespec *t0, char *buf, size_t len)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long left = SERVE_BUSY_DRAIN_MS - ((now.tv_sec - t0->tv_sec) * 1000 +
					   (now.tv_nsec - t0->tv_nsec) / 1000000);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (left <= 0 || poll(&p, 1, (int)left) <= 0)
		return 0;
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

/* Reads and drops what the client sent, until the end of its headers, 8 KiB, its EOF or
 * SERVE_BUSY_DRAIN_MS: a socket closed with unread input is reset, and the reset destroys the
 * answer in flight (the client would see a dropped connection, not the 503). */
static void drain_request(int fd)
{
	char buf[8192] = {0};
	size_t got = 0, n;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((n = recv_before(fd, &t0, buf + got % 4096, 4096)) > 0) {
		got += n;
		if (got >= sizeof buf || memmem(buf, sizeof buf, "\r\n\r\n", 4))
			return;
	}
}

/* Closes a connection whose answer was sent: our side first, then what the client still sends is
 * read until its EOF, 64 KiB or SERVE_BUSY_DRAIN_MS, so that the close does not reset the
 * connection while the answer is in flight (a request over 8 KiB is answered 431 with the rest of
 * it unread: monitor-serve-pprof saw no answer at times). */
static void linger_close(int fd)
{
	shutdown(fd, SHUT_WR);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char buf[4096];
	for (size_t got = 0, n = 1; n > 0 && got < 64 * 1024; got += n)
		n = recv_before(fd, &t0, buf, sizeof buf);
	close(fd);
}

/* The parent's answer when SERVE_MAX_CHILDREN are busy: 503 after the request was read, so the
 * client sees the status (bounded: the parent must go back to accepting). */
static void respond_busy(int fd)
{
	drain_request(fd);
	respond_text(fd, 503, "Service Unavailable", "busy: retry\n", false);
	linger_close(fd);
}

static void accept_one(int lfd, int *children, bool no_symbols)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (*children >= SERVE_MAX_CHILDREN) {
		respond_busy(fd);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(lfd);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		alarm(SERVE_REQUEST_S);
		serve_one(fd, no_symbols);
		linger_close(fd);
		_exit(0);
	}
	if (pid > 0)
		(*children)++;
	else
		respond_text(fd, 503, "Service Unavailable", "cannot fork: retry\n", false);
	close(fd);
}

int cli_serve_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"listen", required_argument, NULL, 'l'}, {"allow-remote", no_argument, NULL, 'r'},
		{"no-symbols", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *spec = SERVE_DEFAULT_LISTEN;
	bool allow_remote = false, no_symbols = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
		switch (c) {
		case 'l': spec = optarg; break;
		case 'r': allow_remote = true; break;
		case 's': no_symbols = true; break;
		case 'h':
			printf("usage: memtop serve [--listen ADDR:PORT] [--allow-remote] [--no-symbols]\n"
			       "  GET /debug/pprof/heap?pid=PID: gzipped pprof heap profile of a traced "
			       "process of yours\n  GET /: your traced processes\n  default %s; an address "
			       "beyond loopback needs --allow-remote; port 0 picks a free one\n",
			       SERVE_DEFAULT_LISTEN);
			return 0;
		default:
			return serve_fail("unknown option or missing value in '%s' (see memtop serve --help)",
					  argv[optind - 1]);
		}
	}
	if (optind != argc)
		return serve_fail("unexpected argument '%s'", argv[optind]);
	int lfd = listen_on(spec, allow_remote);
	if (lfd < 0)
		return 2;
	struct sigaction sa = {.sa_handler = serve_on_signal}; /* no SA_RESTART: poll returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	print_address(lfd);
	int children = 0;
	while (!serve_stop) {
		reap(&children);
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		if (poll(&p, 1, 200) > 0 && (p.revents & POLLIN))
			accept_one(lfd, &children, no_symbols);
	}
	close(lfd);
	for (int i = 0; i < 100 && children > 0; i++) { /* children end within SERVE_REQUEST_S */
		reap(&children);
		if (children)
			usleep(20000);
	}
	return 0;
}
