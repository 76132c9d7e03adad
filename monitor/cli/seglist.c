/* seglist: `memtop` (list traced processes) and `memtop gc` (remove segments of dead processes, also
 * done silently before every command). Reads segments without claiming them; gc never removes the
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

static void list_one(pid_t pid, void *ctx)
{
	int *count = ctx;
	struct shm_segment seg;
	char err[256];
	if (shm_segment_open(&seg, pid, false, err, sizeof err) != 0) {
		printf("%8d  %-8s  %s\n", (int)pid, "?", err);
		return;
	}
	struct memtop_seg_header h;
	struct memtop_counters c = {0};
	if (shm_header_read(&seg, &h) == 0) {
		shm_totals(&seg, &c);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		uint64_t age = now > h.created_realtime_ns ? (now - h.created_realtime_ns) / 1000000000ull : 0;
		const char *state = shm_segment_is_stale(&h) ? "stale" : h.claim_pid ? "watched" : "traced";
		h.exe[sizeof h.exe - 1] = '\0';
		/* the live table's view of the heap: exact, or estimated from samples (~) */
		static const char *const modes[] = {"off", "sampled", "exact"};
		uint32_t mode = h.live_mode < 3 ? h.live_mode : 0;
		uint64_t lb = 0, lk = 0;
		char live[32] = "-";
		if (mode && shm_live_totals(&seg, &lb, &lk) == 0)
			snprintf(live, sizeof live, "%s%" PRIu64, mode == MEMTOP_LIVE_SAMPLED ? "~" : "", lb);
		printf("%8d  %-8s  %12" PRIu64 "  %13s  %-7s  %8" PRIu64 "s  %s\n", (int)pid, state,
		       c.usable_alloc - c.usable_freed, live, modes[mode], age, h.exe);
		(*count)++;
	}
	shm_segment_close(&seg, false);
}

/* On a terminal, asks which process to attach to. Returns the pid, or 0. */
static int pick_pid(void)
{
	char line[64];
	printf("attach to pid (Enter to quit): ");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 0;
	char *end;
	long pid = strtol(line, &end, 10);
	if (end == line || pid <= 0)
		return 0;
	return (int)pid;
}

int cli_list(int *chosen)
{
	int count = 0;
	*chosen = 0;
	printf("%8s  %-8s  %12s  %13s  %-7s  %9s  %s\n", "PID", "STATE", "HEAP_BYTES", "LIVE_BYTES",
	       "TABLE", "AGE", "COMMAND");
	for_each_segment(list_one, &count);
	if (count == 0) {
		printf("no traced process: start one with 'memtop run -- CMD' or "
		       "LD_PRELOAD=libmemtop.so CMD\n");
		return 0;
	}
	if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
		*chosen = pick_pid();
	else
		printf("attach with: memtop PID\n");
	return 0;
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
