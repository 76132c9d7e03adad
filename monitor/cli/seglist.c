/* seglist: `memtop` (list traced processes: the picker of ui/ui_pick.c on a terminal, plain text
 * otherwise) and `memtop gc` (remove segments of dead processes, also done silently before every
 * command). Reads segments without claiming them; gc never removes the
 * segment of a live process. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ui/ui.h"
#include "livetable.h"
#include "shm.h"

typedef void (*seg_fn)(pid_t pid, void *ctx);

static int for_each_segment(seg_fn fn, void *ctx)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return -1;
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "memtop.", 7) != 0)
			continue;
		char *end;
		long pid = strtol(de->d_name + 7, &end, 10);
		if (*end || pid <= 0)
			continue;
		fn((pid_t)pid, ctx);
		n++;
	}
	closedir(d);
	return n;
}

/* One traced process as both the listing and the picker show it. */
struct seg_entry {
	struct ui_pick_row row;
	char state[8];
	uint64_t heap_bytes, age_s;
	char live[32];
	char exe[256];
	char err[256]; /* the segment could not be read: why */
};

struct seg_list {
	struct seg_entry *v;
	int n, cap;
};

static const char *const seg_modes[] = {"off", "sampled", "exact"};

static void seg_read(pid_t pid, struct seg_entry *e)
{
	struct shm_segment seg;
	e->row.pid = (int)pid;
	e->row.mode = "?";
	e->row.monitored = "?";
	if (shm_segment_open(&seg, pid, false, e->err, sizeof e->err) != 0)
		return;
	struct memtop_seg_header h;
	struct memtop_counters c = {0};
	if (shm_header_read(&seg, &h) == 0) {
		shm_totals(&seg, &c);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		e->age_s = now > h.created_realtime_ns ? (now - h.created_realtime_ns) / 1000000000ull : 0;
		bool stale = shm_segment_is_stale(&h);
		snprintf(e->state, sizeof e->state, "%s", stale ? "stale" : h.claim_pid ? "watched" : "traced");
		e->row.monitored = stale ? "dead" : h.claim_pid ? "yes" : "no";
		h.exe[sizeof h.exe - 1] = '\0';
		snprintf(e->exe, sizeof e->exe, "%s", h.exe);
		/* the live table's view of the heap: exact, or estimated from samples (~) */
		uint32_t mode = h.live_mode < 3 ? h.live_mode : 0;
		e->row.mode = seg_modes[mode];
		uint64_t lb = 0, lk = 0;
		snprintf(e->live, sizeof e->live, "-");
		if (mode && shm_live_totals(&seg, &lb, &lk) == 0)
			snprintf(e->live, sizeof e->live, "%s%" PRIu64, mode == MEMTOP_LIVE_SAMPLED ? "~" : "", lb);
		e->heap_bytes = c.usable_alloc - c.usable_freed;
		e->row.live_bytes = e->heap_bytes;
	} else {
		snprintf(e->err, sizeof e->err, "unreadable segment header");
	}
	shm_segment_close(&seg, false);
}

static void list_one(pid_t pid, void *ctx)
{
	struct seg_list *l = ctx;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 16;
		struct seg_entry *v = realloc(l->v, (size_t)cap * sizeof *v);
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	struct seg_entry *e = &l->v[l->n];
	memset(e, 0, sizeof *e);
	seg_read(pid, e);
	l->n++;
}

static int entry_by_pid(const void *a, const void *b)
{
	const struct seg_entry *x = a, *y = b;
	return (x->row.pid > y->row.pid) - (x->row.pid < y->row.pid);
}

static void print_listing(const struct seg_list *l)
{
	printf("%8s  %-8s  %12s  %13s  %-7s  %9s  %s\n", "PID", "STATE", "HEAP_BYTES", "LIVE_BYTES",
	       "TABLE", "AGE", "COMMAND");
	for (int i = 0; i < l->n; i++) {
		const struct seg_entry *e = &l->v[i];
		if (e->err[0])
			printf("%8d  %-8s  %s\n", e->row.pid, "?", e->err);
		else
			printf("%8d  %-8s  %12" PRIu64 "  %13s  %-7s  %8" PRIu64 "s  %s\n", e->row.pid,
			       e->state, e->heap_bytes, e->live, e->row.mode, e->age_s, e->exe);
	}
}

/* On a terminal: the picker list; otherwise the plain listing. *chosen is the pid picked, or 0. */
int cli_list(int *chosen)
{
	struct seg_list l = {0};
	*chosen = 0;
	for_each_segment(list_one, &l);
	if (l.n == 0) {
		printf("no traced process: start one with 'memtop run -- CMD' or "
		       "LD_PRELOAD=libmemtop.so CMD\n");
		free(l.v);
		return 0;
	}
	if (l.n > 1)
		qsort(l.v, (size_t)l.n, sizeof *l.v, entry_by_pid);
	int rc = 0;
	if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		struct ui_pick_row *rows = calloc((size_t)l.n, sizeof *rows);
		char err[256];
		for (int i = 0; rows && i < l.n; i++) {
			rows[i] = l.v[i].row; /* the strings live in l.v, which no longer moves */
			rows[i].command = l.v[i].err[0] ? l.v[i].err : l.v[i].exe;
		}
		int pid = rows ? ui_pick(rows, l.n, err, sizeof err) : -1;
		if (!rows)
			snprintf(err, sizeof err, "out of memory");
		if (pid < 0)
			rc = cli_fail("%s", err);
		else
			*chosen = pid;
		free(rows);
	} else {
		print_listing(&l);
		printf("attach with: memtop PID\n");
	}
	free(l.v);
	return rc;
}

struct gc_run {
	int removed;
	int left; /* stale, but another user's: the sticky /dev/shm lets only its owner or root */
	bool quiet; /* before another command: never a word on success */
};

/* True while /dev/shm<name> is still the file we judged (a new process with a reused pid may have
 * replaced the stale segment meanwhile: its segment must stay). */
static bool same_file(const char *name, const struct stat *judged)
{
	char path[96];
	struct stat now;
	snprintf(path, sizeof path, "/dev/shm%s", name);
	return lstat(path, &now) == 0 && now.st_ino == judged->st_ino && now.st_dev == judged->st_dev;
}

static void gc_one(pid_t pid, void *ctx)
{
	struct gc_run *run = ctx;
	struct shm_segment seg;
	struct stat judged;
	char err[256], name[64], path[96];
	shm_segment_name(pid, name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	if (shm_segment_open(&seg, pid, geteuid() == 0, err, sizeof err) == 0) {
		struct memtop_seg_header h;
		bool stale = shm_header_read(&seg, &h) == 0 && shm_segment_is_stale(&h) &&
			     fstat(seg.fd, &judged) == 0;
		shm_segment_close(&seg, false);
		if (!stale)
			return;
	} else {
		/* unreadable or invalid: remove it only if its pid is gone */
		if (kill(pid, 0) == 0 || shm_proc_start_time(pid) != 0 || lstat(path, &judged) != 0)
			return;
	}
	if (!same_file(name, &judged))
		return;
	if (shm_unlink(name) == 0) {
		if (!run->quiet)
			printf("removed %s\n", name);
		run->removed++;
	} else if (errno == EPERM || errno == EACCES) {
		run->left++;
	}
}

int cli_gc(void)
{
	struct gc_run run = {0};
	for_each_segment(gc_one, &run);
	printf("%d stale segment%s removed\n", run.removed, run.removed == 1 ? "" : "s");
	if (run.left)
		printf("%d stale segment%s of other users left: only their owner or root may remove "
		       "them\n", run.left, run.left == 1 ? "" : "s");
	return 0;
}

void cli_gc_quiet(void)
{
	struct gc_run run = {.quiet = true};
	for_each_segment(gc_one, &run);
}
