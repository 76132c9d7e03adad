/* mtdump: a minimal memtop consumer for tests. Runs a command under libmemtop.so (or attaches to a
 * traced pid), drains its ring to the end, keeps a small live set, and prints exact machine-readable
 * totals, live blocks and per-stack figures. Passes the target's exit status through.
 * Test tool only: it must never be needed by the real monitor and never print anything unstable
 * (addresses appear only as module+offset). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

#ifndef MTDUMP_PRELOAD
#define MTDUMP_PRELOAD "libmemtop.so"
#endif

/* ---- options ---- */

struct options {
	const char *out_path;
	const char *preload;
	pid_t attach_pid;
	unsigned slow_us;      /* sleep after each batch: a slow consumer */
	unsigned batch;        /* events per pop */
	unsigned long stop_after; /* exit abruptly (no drain, no release) after this many events */
	unsigned long stall_after; /* stop reading (keep the heartbeat) after this many events */
	bool no_wait_env;
	bool count_only; /* only count events (benchmarks: the producer's cost without a live set) */
	const char *ready_file; /* created once the claim is held (tests synchronise on it) */
	char **cmd;
};

static void usage(void)
{
	fprintf(stderr, "usage: mtdump [-o FILE] [-p LIBMEMTOP] [--slow-us N] [--batch N] "
			"[--stop-after EVENTS] [--stall-after EVENTS] [--count-only] [--no-wait] -- CMD [ARGS...]\n"
			"       mtdump [-o FILE] [--slow-us N] [--ready-file PATH] --attach PID\n");
	exit(2);
}

static unsigned long parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end) {
		fprintf(stderr, "mtdump: %s needs a number, got '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof *o);
	o->preload = getenv("MEMTOP_PRELOAD") ? getenv("MEMTOP_PRELOAD") : MTDUMP_PRELOAD;
	o->batch = 256;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < argc;
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-o") && more) {
			o->out_path = argv[++i];
		} else if (!strcmp(a, "-p") && more) {
			o->preload = argv[++i];
		} else if (!strcmp(a, "--slow-us") && more) {
			o->slow_us = (unsigned)parse_num(argv[++i], a);
		} else if (!strcmp(a, "--batch") && more) {
			o->batch = (unsigned)parse_num(argv[++i], a);
		} else if (!strcmp(a, "--stop-after") && more) {
			o->stop_after = parse_num(argv[++i], a);
		} else if (!strcmp(a, "--stall-after") && more) {
			o->stall_after = parse_num(argv[++i], a);
		} else if (!strcmp(a, "--attach") && more) {
			o->attach_pid = (pid_t)parse_num(argv[++i], a);
		} else if (!strcmp(a, "--ready-file") && more) {
			o->ready_file = argv[++i];
		} else if (!strcmp(a, "--count-only")) {
			o->count_only = true;
		} else if (!strcmp(a, "--no-wait")) {
			o->no_wait_env = true;
		} else {
			usage();
		}
	}
	if (o->batch == 0 || o->batch > 4096)
		o->batch = 256;
	o->cmd = i < argc ? &argv[i] : NULL;
	if (!o->cmd == !o->attach_pid)
		usage();
}

/* ---- memory maps: to print frames as module+offset ---- */

struct mapping {
	uint64_t start, end, offset;
	char *path;
};

static struct mapping *maps;
static size_t maps_n, maps_cap;

static bool maps_has(uint64_t start, uint64_t end, const char *path)
{
	for (size_t i = 0; i < maps_n; i++)
		if (maps[i].start == start && maps[i].end == end && !strcmp(maps[i].path, path))
			return true;
	return false;
}

/* True when pid is a program run by qemu-user (its /proc/PID/exe is the emulator). qemu maps the
 * guest's code readable only (it runs translated copies), so another process sees no 'x' on it. */
static bool maps_emulated(pid_t pid)
{
	char path[64], exe[4096];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	return strncmp(base ? base + 1 : exe, "qemu-", 5) == 0;
}

/* Adds the executable file mappings of pid (keeps earlier ones: a dlclosed library's frames still
 * resolve); of an emulated pid, every file mapping (see maps_emulated). */
static void maps_read(pid_t pid)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	bool any_perms = maps_emulated(pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		uint64_t s, e, off;
		char perms[8];
		int pos = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", &s, &e, perms,
			   &off, &pos) < 4 || pos == 0)
			continue;
		char *p = line + pos;
		p[strcspn(p, "\n")] = '\0';
		if ((perms[2] != 'x' && !any_perms) || p[0] != '/' || maps_has(s, e, p))
			continue;
		if (maps_n == maps_cap) {
			maps_cap = maps_cap ? maps_cap * 2 : 64;
			maps = realloc(maps, maps_cap * sizeof *maps);
		}
		maps[maps_n++] = (struct mapping){s, e, off, strdup(p)};
	}
	fclose(f);
}

static void frame_print(FILE *out, uint64_t pc)
{
	for (size_t i = maps_n; i-- > 0;)
		if (pc >= maps[i].start && pc < maps[i].end) {
			fprintf(out, "%s+0x%" PRIx64, maps[i].path, pc - maps[i].start + maps[i].offset);
			return;
		}
	fprintf(out, "?+0x%" PRIx64, pc);
}

/* ---- live set: linear probing on the block address, backward-shift deletion (no tombstones,
 * so heavy churn keeps probe chains short) ---- */

struct block {
	uint64_t addr; /* 0 = empty */
	uint64_t size, usable;
	uint32_t stack;
	bool from_realloc;
};

struct table {
	struct block *b;
	size_t cap, live;
};

static size_t hash_addr(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return (size_t)a;
}

static void table_insert(struct table *t, const struct block *blk);

static void table_grow(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	struct table n = {calloc(cap, sizeof(struct block)), cap, 0};
	for (size_t i = 0; i < t->cap; i++)
		if (t->b[i].addr)
			table_insert(&n, &t->b[i]);
	free(t->b);
	*t = n;
}

static struct block *table_find(struct table *t, uint64_t addr)
{
	if (!t->cap)
		return NULL;
	for (size_t i = hash_addr(addr) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->b[i].addr == addr)
			return &t->b[i];
		if (t->b[i].addr == 0)
			return NULL;
	}
}

static void table_insert(struct table *t, const struct block *blk)
{
	if ((t->live + 1) * 2 > t->cap)
		table_grow(t);
	size_t i = hash_addr(blk->addr) & (t->cap - 1);
	while (t->b[i].addr)
		i = (i + 1) & (t->cap - 1);
	t->b[i] = *blk;
	t->live++;
}

static bool table_remove(struct table *t, uint64_t addr, struct block *out)
{
	struct block *b = table_find(t, addr);
	if (!b)
		return false;
	*out = *b;
	size_t mask = t->cap - 1, hole = (size_t)(b - t->b);
	/* Shift back every later entry of the chain that may live in the hole. */
	for (size_t j = (hole + 1) & mask; t->b[j].addr; j = (j + 1) & mask) {
		size_t home = hash_addr(t->b[j].addr) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->b[hole] = t->b[j];
			hole = j;
		}
	}
	t->b[hole].addr = 0;
	t->live--;
	return true;
}

/* ---- per-stack figures ---- */

struct stack_stats {
	uint64_t allocs, live_blocks, live_bytes;
};

static struct stack_stats *stacks;
static size_t stacks_cap;
static struct stack_stats signal_stack; /* MEMTOP_STACK_SIGNAL: calls made in a signal handler */

static struct stack_stats *stack_at(uint32_t id)
{
	if (id == MEMTOP_STACK_SIGNAL)
		return &signal_stack;
	if (id >= stacks_cap) {
		size_t n = stacks_cap ? stacks_cap : 256;
		while (n <= id)
			n *= 2;
		stacks = realloc(stacks, n * sizeof *stacks);
		memset(stacks + stacks_cap, 0, (n - stacks_cap) * sizeof *stacks);
		stacks_cap = n;
	}
	return &stacks[id];
}

/* ---- applying events ---- */

struct dump {
	struct shm_segment seg;
	struct table live, realloc_pending;
	struct table realloc_ended; /* old blocks of split ENDs seen before their BEGIN */
	uint64_t events, bad, skipped, unknown_frees, dup_allocs;
	uint64_t ev_allocs, ev_frees, ev_realloc_begin, ev_realloc_end, ev_realloc_split, ev_failed, ev_tags,
		ev_names, ev_maps;
	bool bus;
};

static uint32_t stack_key(uint32_t id)
{
	return id == MEMTOP_STACK_OVERFLOW ? 0 : id;
}

static void live_add(struct dump *d, uint64_t addr, uint64_t size, uint64_t usable, uint32_t stack,
		     bool from_realloc)
{
	struct block old;
	if (table_remove(&d->live, addr, &old)) {
		d->dup_allocs++;
		struct stack_stats *s = stack_at(stack_key(old.stack));
		s->live_blocks--;
		s->live_bytes -= old.size;
	}
	struct block b = {addr, size, usable, stack, from_realloc};
	table_insert(&d->live, &b);
	struct stack_stats *s = stack_at(stack_key(stack));
	s->allocs++;
	s->live_blocks++;
	s->live_bytes += size;
}

static bool live_take(struct dump *d, uint64_t addr, struct block *out)
{
	if (!table_remove(&d->live, addr, out))
		return false;
	struct stack_stats *s = stack_at(stack_key(out->stack));
	s->live_blocks--;
	s->live_bytes -= out->size;
	return true;
}

static void live_put_back(struct dump *d, const struct block *b)
{
	table_insert(&d->live, b);
	struct stack_stats *s = stack_at(stack_key(b->stack));
	s->live_blocks++;
	s->live_bytes += b->size;
}

/* A realloc's BEGIN and END meet by thread slot, realloc number (link) and old address, hashed into
 * the key the pair tables use as their "address" (a pending block keeps its data, not its address:
 * the END's aux has it). */
static uint64_t pair_key(const struct memtop_event *ev, uint64_t old)
{
	uint64_t k = old ^ (ev->link * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ev->thread_slot << 48);
	k ^= k >> 31;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 29;
	return k ? k : 1;
}

static void apply_realloc_end(struct dump *d, const struct memtop_event *ev)
{
	struct block old;
	d->ev_realloc_end++;
	if (ev->flags & MEMTOP_EVF_SPLIT)
		d->ev_realloc_split++;
	if (ev->aux) {
		uint64_t key = pair_key(ev, ev->aux);
		bool had = table_remove(&d->realloc_pending, key, &old);
		if (had)
			old.addr = ev->aux;
		if (!had && (ev->flags & MEMTOP_EVF_SPLIT)) {
			/* BEGIN is still in the old block's lane: it frees the old block when it comes
			 * (events of that address before it come first). */
			struct block ended = {.addr = key};
			table_insert(&d->realloc_ended, &ended);
			d->ev_frees++;
			d->ev_allocs++;
			live_add(d, ev->addr, ev->size, ev->usable, ev->stack_id, true);
			return;
		}
		if (!had && live_take(d, ev->aux, &old))
			had = true; /* BEGIN was not seen (attached in between) */
		if (ev->flags & MEMTOP_EVF_FAILED) {
			d->ev_failed++;
			if (had)
				live_put_back(d, &old);
			return;
		}
		d->ev_frees++;
		if (!had)
			d->unknown_frees++;
	}
	if (ev->addr) {
		d->ev_allocs++;
		live_add(d, ev->addr, ev->size, ev->usable, ev->stack_id, true);
	}
}

static void apply(struct dump *d, const struct memtop_event *ev)
{
	struct block b;
	d->events++;
	if (shm_event_check(&d->seg, ev)) {
		d->bad++;
		return;
	}
	switch (ev->type) {
	case MEMTOP_EV_MALLOC:
	case MEMTOP_EV_CALLOC:
	case MEMTOP_EV_MEMALIGN:
		d->ev_allocs++;
		live_add(d, ev->addr, ev->size, ev->usable, ev->stack_id, false);
		break;
	case MEMTOP_EV_FREE:
		d->ev_frees++;
		if (!live_take(d, ev->addr, &b))
			d->unknown_frees++;
		break;
	case MEMTOP_EV_REALLOC_BEGIN:
		d->ev_realloc_begin++;
		if (table_remove(&d->realloc_ended, pair_key(ev, ev->addr), &b)) {
			if (!live_take(d, ev->addr, &b))
				d->unknown_frees++;
		} else if (live_take(d, ev->addr, &b)) {
			b.addr = pair_key(ev, ev->addr);
			table_insert(&d->realloc_pending, &b);
		} else {
			d->unknown_frees++;
		}
		break;
	case MEMTOP_EV_REALLOC_END:
		apply_realloc_end(d, ev);
		break;
	case MEMTOP_EV_TAG:
		d->ev_tags++;
		break;
	case MEMTOP_EV_THREAD_NAME:
		d->ev_names++;
		break;
	case MEMTOP_EV_MAPS_CHANGED:
		d->ev_maps++;
		maps_read(d->seg.pid);
		break;
	default:
		d->bad++;
	}
}

/* ---- draining ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static bool segment_exists(pid_t pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/dev/shm/memtop.%d", (int)pid);
	return stat(path, &st) == 0;
}

/* Launch mode: reaps the child when it exits. Returns true once the target is gone. */
static bool target_gone(pid_t pid, bool is_child, int *status)
{
	if (is_child) {
		pid_t r = waitpid(pid, status, WNOHANG);
		return r == pid || (r < 0 && errno == ECHILD);
	}
	return !pid_alive(pid);
}

/* Pops until the ring is empty (true) or, for a pending ticket, gives up (false). */
static enum shm_pop_status drain_once(struct dump *d, struct memtop_event *buf, size_t batch,
				      bool count_only)
{
	size_t n = 0;
	enum shm_pop_status st = shm_ring_pop(&d->seg, buf, batch, &n);
	if (count_only)
		d->events += n;
	else
		for (size_t i = 0; i < n; i++)
			apply(d, &buf[i]);
	if (st == SHM_POP_BUS)
		d->bus = true;
	return st;
}

static void nap_us(unsigned us)
{
	struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static void run_drain(struct dump *d, const struct options *o, pid_t pid, bool is_child,
		      int *status)
{
	struct memtop_event *buf = calloc(o->batch, sizeof *buf);
	uint64_t last_beat = 0, last_maps = now_ms();
	bool gone = false;
	bool exited_seen = false;
	for (;;) {
		bool stalled = o->stall_after && d->events >= o->stall_after && !gone;
		enum shm_pop_status st = stalled ? SHM_POP_EMPTY
						 : drain_once(d, buf, o->batch, o->count_only);
		if (o->stop_after && d->events >= o->stop_after)
			_exit(99); /* simulate a consumer killed mid-run: no release, no unlink */
		uint64_t now = now_ms();
		if (now - last_beat >= 100) {
			shm_consumer_heartbeat(&d->seg);
			last_beat = now;
		}
		if (!exited_seen && (__atomic_load_n(&d->seg.hdr->flags, __ATOMIC_ACQUIRE) &
				     MEMTOP_FLAG_EXITED)) {
			exited_seen = true;
			maps_read(pid);
		} else if (now - last_maps >= 500 && !gone) {
			maps_read(pid);
			last_maps = now;
		}
		if (d->bus)
			break;
		if (st == SHM_POP_OK) {
			if (o->slow_us)
				nap_us(o->slow_us);
			continue;
		}
		if (gone) {
			if (st == SHM_POP_EMPTY)
				break;
			/* The producer died between reserving and committing: nobody will commit. */
			shm_ring_skip(&d->seg);
			d->skipped++;
			continue;
		}
		gone = target_gone(pid, is_child, status);
		if (!gone)
			nap_us(st == SHM_POP_PENDING ? 50 : 500);
	}
	free(buf);
}

/* ---- report ---- */

static void report(FILE *out, struct dump *d, int exit_code)
{
	struct memtop_counters c;
	struct memtop_seg_header h;
	memset(&h, 0, sizeof h);
	shm_header_read(&d->seg, &h);
	shm_totals(&d->seg, &c);
	fprintf(out, "mtdump 1\n");
	fprintf(out, "exit %d\n", exit_code);
	fprintf(out, "header_exited %d header_exit_status %d\n", !!(h.flags & MEMTOP_FLAG_EXITED),
		h.exit_status);
	fprintf(out, "counters allocs %" PRIu64 " frees %" PRIu64 " usable_alloc %" PRIu64
		     " usable_freed %" PRIu64 " req_bytes %" PRIu64 " dropped %" PRIu64
		     " untracked %" PRIu64 "\n",
		c.allocs, c.frees, c.usable_alloc, c.usable_freed, c.req_bytes, c.dropped, c.untracked);
	fprintf(out, "events total %" PRIu64 " allocs %" PRIu64 " frees %" PRIu64
		     " realloc_begin %" PRIu64 " realloc_end %" PRIu64 " realloc_split %" PRIu64
		     " realloc_failed %" PRIu64
		     " tags %" PRIu64 " thread_names %" PRIu64 " maps_changed %" PRIu64 "\n",
		d->events, d->ev_allocs, d->ev_frees, d->ev_realloc_begin, d->ev_realloc_end,
		d->ev_realloc_split, d->ev_failed, d->ev_tags, d->ev_names, d->ev_maps);
	fprintf(out, "anomalies bad %" PRIu64 " skipped %" PRIu64 " unknown_frees %" PRIu64
		     " dup_allocs %" PRIu64 " bus %d stacks_overflow %" PRIu64 "\n",
		d->bad, d->skipped, d->unknown_frees, d->dup_allocs, d->bus, h.stacks_overflow);
	uint64_t bytes = 0, usable = 0;
	for (size_t i = 0; i < d->live.cap; i++)
		if (d->live.b[i].addr) {
			bytes += d->live.b[i].size;
			usable += d->live.b[i].usable;
		}
	fprintf(out, "live blocks %zu bytes %" PRIu64 " usable %" PRIu64 "\n", d->live.live, bytes,
		usable);
	uint64_t frames[MEMTOP_MAX_DEPTH];
	for (size_t id = 0; id < stacks_cap; id++) {
		struct stack_stats *s = &stacks[id];
		if (!s->allocs && !s->live_blocks)
			continue;
		fprintf(out, "stack %zu allocs %" PRIu64 " live_blocks %" PRIu64 " live_bytes %" PRIu64
			     " frames",
			id, s->allocs, s->live_blocks, s->live_bytes);
		int n = id ? shm_stack_read(&d->seg, (uint32_t)id, frames, MEMTOP_MAX_DEPTH) : 0;
		for (int i = 0; i < n; i++) {
			fputc(' ', out);
			frame_print(out, frames[i]);
		}
		fputc('\n', out);
	}
	if (signal_stack.allocs || signal_stack.live_blocks)
		fprintf(out, "stack %u allocs %" PRIu64 " live_blocks %" PRIu64 " live_bytes %" PRIu64
			     " frames <in signal handler>\n",
			MEMTOP_STACK_SIGNAL, signal_stack.allocs, signal_stack.live_blocks,
			signal_stack.live_bytes);
	for (uint32_t id = 1; id <= d->seg.tags_cap; id++) {
		struct memtop_tag tag;
		if (shm_tag_read(&d->seg, id, &tag) != 0)
			break;
		fprintf(out, "tag %u %s\n", id, tag.name);
	}
	for (uint32_t i = 0; i < d->seg.threads_count; i++) {
		struct memtop_thread_slot s;
		if (shm_thread_read(&d->seg, i, &s) == 0 && s.generation)
			fprintf(out, "thread %u generations %u name %s allocs %" PRIu64 "\n", i,
				s.generation, s.name, s.c.allocs);
	}
}

/* ---- launching and attaching ---- */

static pid_t launch(const struct options *o)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("mtdump: fork");
		exit(1);
	}
	if (pid == 0) {
		const char *prev = getenv("LD_PRELOAD");
		char *pre = NULL;
		if (prev && *prev) {
			pre = malloc(strlen(prev) + strlen(o->preload) + 2);
			sprintf(pre, "%s:%s", o->preload, prev);
		}
		setenv("LD_PRELOAD", pre ? pre : o->preload, 1);
		if (!o->no_wait_env)
			setenv("MEMTOP_WAIT", "1", 1);
		execvp(o->cmd[0], o->cmd);
		fprintf(stderr, "mtdump: cannot run %s: %s\n", o->cmd[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Waits for the target's segment and claims it. Returns false when the target ended first. */
static bool attach(struct dump *d, pid_t pid, bool is_child, int *status)
{
	char err[256] = "";
	uint64_t deadline = now_ms() + 30000;
	while (now_ms() < deadline) {
		if (segment_exists(pid) && shm_segment_open(&d->seg, pid, false, err, sizeof err) == 0) {
			/* the map now: a target held by MEMTOP_WAIT has it whole, and once claimed a short
			 * program may be a zombie (no map left) before we look */
			maps_read(pid);
			pid_t holder = 0;
			int rc = shm_consumer_claim(&d->seg, &holder);
			if (rc == 0)
				return true;
			fprintf(stderr, "mtdump: cannot claim segment of %d: held by %d\n", (int)pid,
				(int)holder);
			shm_segment_close(&d->seg, false);
			return false;
		}
		if (target_gone(pid, is_child, status))
			return false;
		nap_us(200);
	}
	fprintf(stderr, "mtdump: no segment for %d after 30 s%s%s\n", (int)pid, *err ? ": " : "", err);
	return false;
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	struct options o;
	struct dump d;
	int status = 0;
	parse_options(argc, argv, &o);
	memset(&d, 0, sizeof d);
	bool is_child = o.cmd != NULL;
	pid_t pid = is_child ? launch(&o) : o.attach_pid;
	FILE *out = stderr;
	if (o.out_path && !(out = fopen(o.out_path, "w"))) {
		fprintf(stderr, "mtdump: cannot write %s: %s\n", o.out_path, strerror(errno));
		if (is_child)
			kill(pid, SIGKILL);
		return 2;
	}
	bool attached = attach(&d, pid, is_child, &status);
	if (attached && o.ready_file) {
		FILE *f = fopen(o.ready_file, "w");
		if (f)
			fclose(f);
	}
	if (attached) {
		maps_read(pid);
		run_drain(&d, &o, pid, is_child, &status);
	} else if (is_child && waitpid(pid, &status, 0) < 0 && errno != ECHILD) {
		status = 0;
	}
	int code = is_child ? exit_code_of(status) : 0;
	if (attached) {
		report(out, &d, code);
		shm_consumer_release(&d.seg);
		shm_segment_close(&d.seg, true);
	} else {
		fprintf(out, "mtdump 1\nexit %d\nattached 0\n", code);
	}
	if (out != stderr)
		fclose(out);
	return code;
}
