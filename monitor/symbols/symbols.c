/* symbols: the session's symbolizer thread. It resolves every new call stack once (libdwfl through
 * symdb, one thread only) and publishes the frames per stack id with a release store, so the ingest
 * thread, the UI and snapshots read symbols without locks. Must never block the ingest thread. */
#include "symbols/symbols.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proc/procmaps.h"
#include "shm.h"
#include "symbols/skipframes.h"
#include "symbols/strpool.h"

/* A resolved frame: a return address and its cached resolution (NULL: unknown). Interned per
 * (pc, resolution) for the symbolizer's life: the stacks that pass through it share one record. */
struct sym_frame {
	uint64_t pc;
	const struct symdb_frames *fr;
};

/* A stack is a path in a tree of nodes, from its innermost frame (the node the stack id names) to
 * the outermost (whose parent is 0), so that stacks share the records of their common outer frames:
 * 50 k stacks 48 frames deep held 16 B per frame each (31 MiB), now a few bytes per distinct
 * (frame, caller path). Interned per (parent, frame). */
struct sym_node {
	uint32_t parent; /* node index + 1; 0 = none (outermost frame) */
	uint32_t frame;  /* sym_frame index */
};

/* Interned records of one kind, in fixed chunks that never move (readers index them without locks).
 * Only the symbolizer thread appends and looks up; a chunk pointer and a record are written before
 * the release store of the first stack that names them (symbols_main), which orders both for readers. */
#define SYM_CHUNK_BITS 12
#define SYM_CHUNK (1u << SYM_CHUNK_BITS)
struct sym_table {
	size_t elem;      /* record size: compared and hashed bytewise (records have no padding) */
	char **chunks;    /* [n_chunks_max] */
	uint32_t n_chunks_max;
	uint32_t n;       /* records appended */
	uint32_t *index;  /* open addressing: record index + 1, 0 empty (symbolizer thread only) */
	uint32_t index_cap;
};

/* sy->stacks[id]: the innermost node + 1; 0 = not resolved yet; SYM_EMPTY_STACK: resolved, no frame */
#define SYM_EMPTY_STACK UINT32_MAX

struct symbols {
	struct symbols_source src; /* initial_maps already taken */
	struct symdb *db;
	char *maps_text;        /* the map the db was built from (owned by the symbolizer thread) */
	char *maps_published;   /* last map text, readable under lock (snapshot MAPS section) */
	char *maps_pending;     /* from the ingest thread, not yet reported to libdwfl (under lock) */
	uint64_t maps_generation;
	uint32_t cap;           /* stacks_cap + 1 */
	uint32_t *stacks;           /* [cap], see SYM_EMPTY_STACK */
	struct sym_table frames;    /* struct sym_frame */
	struct sym_table nodes;     /* struct sym_node */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t *queue;
	size_t qn, qcap;
	size_t busy;            /* ids taken from the queue and not yet published */
	bool stop;
};

char *symbols_read_maps(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	return procmaps_read_file(path);
}

static void symbols_take_map(struct symbols *sy, char *m);
static char *maps_merge(const char *old, const char *fresh);
static void symbols_apply_pending(struct symbols *sy);

static bool is_own_module(const char *module)
{
	if (!module)
		return false;
	const char *base = strrchr(module, '/');
	base = base ? base + 1 : module;
	/* exactly memtop's library (a versioned name too), never any libmemtop_*.so a program has */
	return strcmp(base, "libmemtop.so") == 0 || strncmp(base, "libmemtop.so.", 13) == 0;
}

static bool table_init(struct sym_table *t, size_t elem, uint32_t max_records)
{
	t->elem = elem;
	t->n_chunks_max = (uint32_t)(((uint64_t)max_records + SYM_CHUNK - 1) >> SYM_CHUNK_BITS);
	t->chunks = calloc(t->n_chunks_max ? t->n_chunks_max : 1, sizeof(*t->chunks));
	return t->chunks != NULL;
}

static void table_free(struct sym_table *t)
{
	if (t->chunks)
		for (uint32_t c = 0; c < t->n_chunks_max; c++)
			free(t->chunks[c]);
	free(t->chunks);
	free(t->index);
}

static const void *table_at(const struct sym_table *t, uint32_t i)
{
	const char *chunk = __atomic_load_n(&t->chunks[i >> SYM_CHUNK_BITS], __ATOMIC_RELAXED);
	return chunk + (size_t)(i & (SYM_CHUNK - 1)) * t->elem;
}

static uint32_t table_hash(const void *rec, size_t elem)
{
	uint64_t w[2] = {0, 0};
	memcpy(w, rec, elem);
	return (uint32_t)(((w[0] ^ (w[1] * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull) >> 32);
}

/* Doubles the index (symbolizer thread only: readers never look at it). */
static bool table_index_grow(struct sym_table *t)
{
	uint32_t cap = t->index_cap ? t->index_cap * 2 : 4096;
	uint32_t *ix = calloc(cap, sizeof(*ix));
	if (!ix)
		return false;
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t h = table_hash(table_at(t, i), t->elem) & (cap - 1);
		while (ix[h])
			h = (h + 1) & (cap - 1);
		ix[h] = i + 1;
	}
	free(t->index);
	t->index = ix;
	t->index_cap = cap;
	return true;
}

/* The index of the record equal to rec, appended when new. UINT32_MAX when out of memory or of
 * chunks. */
static uint32_t table_intern(struct sym_table *t, const void *rec)
{
	_Static_assert(sizeof(struct sym_frame) <= 16 && sizeof(struct sym_node) <= 16, "table_hash");
	if ((uint64_t)t->n * 2 >= t->index_cap && !table_index_grow(t))
		return UINT32_MAX;
	uint32_t h = table_hash(rec, t->elem) & (t->index_cap - 1);
	for (; t->index[h]; h = (h + 1) & (t->index_cap - 1))
		if (memcmp(table_at(t, t->index[h] - 1), rec, t->elem) == 0)
			return t->index[h] - 1;
	uint32_t i = t->n, c = i >> SYM_CHUNK_BITS;
	if (c >= t->n_chunks_max)
		return UINT32_MAX;
	if (!t->chunks[c]) {
		char *chunk = malloc(SYM_CHUNK * t->elem);
		if (!chunk)
			return UINT32_MAX;
		__atomic_store_n(&t->chunks[c], chunk, __ATOMIC_RELAXED);
	}
	memcpy(t->chunks[c] + (size_t)(i & (SYM_CHUNK - 1)) * t->elem, rec, t->elem);
	t->n++;
	t->index[h] = i + 1;
	return i;
}

static const struct sym_frame *frame_at(const struct symbols *sy, uint32_t i)
{
	return table_at(&sy->frames, i);
}

static const struct sym_node *node_at(const struct symbols *sy, uint32_t i)
{
	return table_at(&sy->nodes, i);
}

/* The innermost node + 1 of stack id (SYM_EMPTY_STACK when it has no frame), 0 when out of memory. */
static uint32_t symbols_resolve_stack(struct symbols *sy, uint32_t id)
{
	uint64_t pcs[MEMTOP_MAX_DEPTH];
	int depth = sy->src.stack_read(sy->src.ctx, id, pcs, MEMTOP_MAX_DEPTH);
	if (depth <= 0)
		return SYM_EMPTY_STACK;
	symbols_apply_pending(sy);
	/* no refresh on a miss: libraries loaded later come with MAPS_CHANGED events and a new
	 * maps_generation; an address outside every file (JIT code) would miss forever */
	struct sym_node node = {.parent = 0};
	for (int i = depth - 1; i >= 0; i--) { /* from the outermost frame in */
		struct sym_frame fr = {.pc = pcs[i], .fr = symdb_lookup(sy->db, pcs[i])};
		node.frame = table_intern(&sy->frames, &fr);
		if (node.frame == UINT32_MAX)
			return 0; /* readers fall back to the raw frames of the segment */
		uint32_t n = table_intern(&sy->nodes, &node);
		if (n == UINT32_MAX)
			return 0;
		node.parent = n + 1;
	}
	return node.parent;
}

void symbols_maps_update(struct symbols *sy, char *text)
{
	if (!sy || !text)
		return;
	pthread_mutex_lock(&sy->lock);
	free(sy->maps_pending);
	sy->maps_pending = text;
	pthread_cond_signal(&sy->cond);
	pthread_mutex_unlock(&sy->lock);
}

static int line_addr_cmp(const void *a, const void *b)
{
	unsigned long long x = strtoull(*(char *const *)a, NULL, 16);
	unsigned long long y = strtoull(*(char *const *)b, NULL, 16);
	return x < y ? -1 : x > y;
}

/* The union of two maps texts (file-backed lines of `old` that `fresh` lacks are kept), sorted by
 * start address as /proc shows it: a library loaded then unloaded must still resolve the stacks
 * captured while it was there. Returns a malloc'ed text or NULL. */
static char *maps_merge(const char *old, const char *fresh)
{
	size_t cap = strlen(fresh) + (old ? strlen(old) : 0) + 2, nlines = 0, maxlines = 64;
	char *buf = malloc(cap), *out = malloc(cap);
	char **lines = malloc(maxlines * sizeof(char *));
	if (!buf || !out || !lines) {
		free(buf);
		free(out);
		free(lines);
		return NULL;
	}
	snprintf(buf, cap, "%s%s%s", fresh, fresh[0] && fresh[strlen(fresh) - 1] != '\n' ? "\n" : "",
		 old ? old : "");
	size_t fresh_end = strlen(fresh);
	for (char *l = buf; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		bool from_old = (size_t)(l - buf) >= fresh_end;
		bool dup = false;
		for (size_t i = 0; from_old && i < nlines && !dup; i++)
			dup = strcmp(lines[i], l) == 0;
		if (*l && !dup && (!from_old || strchr(l, '/'))) {
			if (nlines == maxlines) {
				char **nlv = realloc(lines, maxlines * 2 * sizeof(char *));
				if (!nlv)
					break;
				lines = nlv;
				maxlines *= 2;
			}
			lines[nlines++] = l;
		}
		l = nl ? nl + 1 : NULL;
	}
	if (nlines > 1)
		qsort(lines, nlines, sizeof(char *), line_addr_cmp);
	size_t n = 0;
	for (size_t i = 0; i < nlines; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\n", lines[i]);
	out[n] = '\0';
	free(lines);
	free(buf);
	return out;
}

/* Reports a fresh map to libdwfl and merges it into the published one; frees m. */
static void symbols_take_map(struct symbols *sy, char *m)
{
	/* a process that has exited (or a zombie) shows an empty map: keep the modules we know */
	if (!m || !strchr(m, '/')) {
		free(m);
		return;
	}
	/* Report the union of what we knew and the fresh map: a map read while the target exits can be
	 * partial, and stacks captured before a dlclose still need their library. A conflict (a new
	 * library where an unloaded one was) falls back to the fresh map alone. */
	pthread_mutex_lock(&sy->lock);
	char *known = maps_merge(m, sy->maps_published);
	pthread_mutex_unlock(&sy->lock);
	if (!known || symdb_refresh(sy->db, known) != 0)
		symdb_refresh(sy->db, m);
	free(known);
	pthread_mutex_lock(&sy->lock);
	char *merged = maps_merge(sy->maps_published, m);
	if (merged) {
		free(sy->maps_published);
		sy->maps_published = merged;
	}
	pthread_mutex_unlock(&sy->lock);
	free(m);
}

static void symbols_apply_pending(struct symbols *sy)
{
	pthread_mutex_lock(&sy->lock);
	char *m = sy->maps_pending;
	sy->maps_pending = NULL;
	pthread_mutex_unlock(&sy->lock);
	symbols_take_map(sy, m);
}

static void symbols_check_maps(struct symbols *sy)
{
	symbols_apply_pending(sy);
	uint64_t generation;
	if (!sy->src.maps_generation(sy->src.ctx, &generation) || generation == sy->maps_generation)
		return;
	sy->maps_generation = generation;
	symbols_take_map(sy, symbols_read_maps(sy->src.pid));
}

static void *symbols_main(void *arg)
{
	struct symbols *sy = arg;
	/* Symbolizing can wait; the target and the ingest thread cannot. Decompressing a library's
	 * debug sections takes tens of ms of CPU that, at nice 0, a target using every core would
	 * lose (storm under memtop report, 12 alternating runs: median 300 -> 287 ms). At nice 19 it
	 * still progresses on a busy machine, and runs at full speed once the target is gone. On
	 * Linux the nice value of a thread id is that thread's alone. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	pthread_mutex_lock(&sy->lock);
	while (!sy->stop) {
		if (sy->qn == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&sy->cond, &sy->lock, &ts);
		}
		size_t n = sy->qn;
		uint32_t *ids = NULL;
		if (n) {
			ids = sy->queue;
			sy->queue = NULL;
			sy->qn = sy->qcap = 0;
			sy->busy += n;
		}
		pthread_mutex_unlock(&sy->lock);
		symbols_check_maps(sy);
		for (size_t i = 0; i < n; i++) {
			uint32_t id = ids[i];
			if (id == 0 || id >= sy->cap)
				continue;
			/* release: the records it names were written before (struct sym_table) */
			__atomic_store_n(&sy->stacks[id], symbols_resolve_stack(sy, id), __ATOMIC_RELEASE);
		}
		free(ids);
		pthread_mutex_lock(&sy->lock);
		sy->busy -= n;
		pthread_cond_broadcast(&sy->cond);
	}
	pthread_mutex_unlock(&sy->lock);
	return NULL;
}

struct symbols *symbols_start_live(struct symbols_source *src, char *err, size_t len)
{
	struct symbols *sy = calloc(1, sizeof(*sy));
	if (!sy) {
		free(src->initial_maps); /* taken over, as on success */
		src->initial_maps = NULL;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	sy->src = *src;
	sy->src.initial_maps = NULL;
	sy->cap = src->stacks_cap + 1;
	sy->stacks = calloc(sy->cap, sizeof(*sy->stacks));
	/* enough chunks for every frame of every stack id (a few KiB of pointers) */
	uint64_t most = (uint64_t)sy->cap * MEMTOP_MAX_DEPTH;
	if (most > UINT32_MAX - 1)
		most = UINT32_MAX - 1;
	bool tables = table_init(&sy->frames, sizeof(struct sym_frame), (uint32_t)most) &&
		      table_init(&sy->nodes, sizeof(struct sym_node), (uint32_t)most);
	/* the map taken at the claim when there is one (the target may have exited since) */
	sy->maps_text = src->initial_maps ? src->initial_maps : symbols_read_maps(src->pid);
	src->initial_maps = NULL;
	if (!sy->stacks || !tables || !sy->maps_text) {
		snprintf(err, len, "cannot read /proc/%d/maps", (int)src->pid);
		symbols_free(sy);
		return NULL;
	}
	sy->maps_published = strdup(sy->maps_text);
	uint64_t generation;
	if (src->maps_generation(src->ctx, &generation))
		sy->maps_generation = generation;
	sy->db = symdb_new(sy->maps_text, NULL, err, len);
	if (!sy->db) {
		symbols_free(sy);
		return NULL;
	}
	/* names outlive this symbolizer (freed at the next exec once no reader holds it) */
	if (src->strings)
		symdb_set_interner(sy->db, strpool_intern_cb, src->strings);
	pthread_mutex_init(&sy->lock, NULL);
	pthread_cond_init(&sy->cond, NULL);
	/* the db belongs to the symbolizer thread from here on */
	if (pthread_create(&sy->thread, NULL, symbols_main, sy) != 0) {
		snprintf(err, len, "cannot start the symbolizer thread");
		symbols_free(sy);
		return NULL;
	}
	sy->running = true;
	return sy;
}

void symbols_enqueue_site(void *ctx, uint32_t stack_id)
{
	struct symbols *sy = ctx;
	pthread_mutex_lock(&sy->lock);
	if (sy->qn == sy->qcap) {
		size_t nc = sy->qcap ? sy->qcap * 2 : 256;
		uint32_t *nq = realloc(sy->queue, nc * sizeof(uint32_t));
		if (!nq) {
			pthread_mutex_unlock(&sy->lock);
			return;
		}
		sy->queue = nq;
		sy->qcap = nc;
	}
	sy->queue[sy->qn++] = stack_id;
	pthread_cond_signal(&sy->cond);
	pthread_mutex_unlock(&sy->lock);
}

/* The innermost node + 1 of a resolved stack (SYM_EMPTY_STACK: no frame), 0 when not resolved. */
static uint32_t symbols_get(struct symbols *sy, uint32_t id)
{
	if (!sy || id == 0 || id >= sy->cap)
		return 0;
	return __atomic_load_n(&sy->stacks[id], __ATOMIC_ACQUIRE);
}

static struct model_frame frame_of(uint64_t pc, const struct symdb_frames *fr, int k)
{
	if (!fr)
		return (struct model_frame){.pc = pc};
	return (struct model_frame){.pc = pc, .module = fr->module, .module_off = fr->module_off,
				    .func = fr->f[k].func, .file = fr->f[k].file, .line = fr->f[k].line,
				    .inlined = k < fr->n - 1};
}

/* The one frame of MEMTOP_STACK_SIGNAL: a call made in a signal handler while the target unwound for
 * the call it interrupted (its own stack was not taken). */
static const struct model_frame symbols_signal_frame = {.func = "<in signal handler>"};

bool symbols_top_frame(struct symbols *sy, uint32_t stack_id, struct model_frame *out)
{
	if (stack_id == MEMTOP_STACK_SIGNAL) {
		*out = symbols_signal_frame;
		return true;
	}
	memset(out, 0, sizeof(*out));
	uint32_t top = symbols_get(sy, stack_id);
	if (!top) {
		uint64_t pc;
		if (sy && stack_id && sy->src.stack_read(sy->src.ctx, stack_id, &pc, 1) == 1)
			out->pc = pc;
		return false;
	}
	/* the innermost frame outside memtop's own library that is no allocator wrapper; when all
	 * are wrappers, the first outside memtop's library */
	bool found = false, resolved = false, skip = symbols_skip_active();
	for (uint32_t n = top == SYM_EMPTY_STACK ? 0 : top; n; n = node_at(sy, n - 1)->parent) {
		const struct sym_frame *r = frame_at(sy, node_at(sy, n - 1)->frame);
		if (r->fr && is_own_module(r->fr->module))
			continue;
		int levels = r->fr ? r->fr->n : 1;
		for (int k = 0; k < levels; k++) {
			if (!found) {
				*out = frame_of(r->pc, r->fr, k);
				resolved = r->fr != NULL;
				found = true;
			}
			if (!skip || !r->fr || !(r->fr->wrappers >> k & 1)) {
				*out = frame_of(r->pc, r->fr, k);
				return r->fr != NULL;
			}
		}
	}
	return resolved;
}

int symbols_stack(struct symbols *sy, uint32_t stack_id, struct model_frame *out, int max)
{
	if (stack_id == MEMTOP_STACK_SIGNAL && max > 0) {
		out[0] = symbols_signal_frame;
		return 1;
	}
	uint32_t top = symbols_get(sy, stack_id);
	if (top) {
		int n = 0;
		/* allocator wrappers at the top are dropped, unless nothing else would be left */
		for (int skip = symbols_skip_active(); skip >= 0 && n == 0; skip--) {
			bool skipping = skip;
			for (uint32_t i = top == SYM_EMPTY_STACK ? 0 : top; i && n < max;
			     i = node_at(sy, i - 1)->parent) {
				const struct sym_frame *r = frame_at(sy, node_at(sy, i - 1)->frame);
				int levels = r->fr ? r->fr->n : 1;
				for (int k = 0; k < levels && n < max; k++) {
					skipping = skipping && r->fr && (r->fr->wrappers >> k & 1);
					if (!skipping)
						out[n++] = frame_of(r->pc, r->fr, k);
				}
			}
			if (top == SYM_EMPTY_STACK)
				break;
		}
		return n;
	}
	if (!sy || max <= 0)
		return -1;
	uint64_t pcs[MEMTOP_MAX_DEPTH];
	int n = sy->src.stack_read(sy->src.ctx, stack_id, pcs, MEMTOP_MAX_DEPTH);
	if (n < 0)
		return -1;
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++)
		out[i] = (struct model_frame){.pc = pcs[i]};
	return n;
}

void symbols_wait_idle(struct symbols *sy, unsigned timeout_ms)
{
	if (!sy)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&sy->lock);
	pthread_cond_signal(&sy->cond);
	/* a stopped symbolizer (its image exec'd) resolves nothing more: no use waiting */
	while (!sy->stop && (sy->qn || sy->busy) &&
	       pthread_cond_timedwait(&sy->cond, &sy->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&sy->lock);
}

char *symbols_maps_copy(struct symbols *sy)
{
	if (!sy)
		return NULL;
	pthread_mutex_lock(&sy->lock);
	char *m = sy->maps_published ? strdup(sy->maps_published) : NULL;
	pthread_mutex_unlock(&sy->lock);
	return m;
}

void symbols_stop(struct symbols *sy)
{
	if (!sy || !sy->running)
		return;
	pthread_mutex_lock(&sy->lock);
	sy->stop = true;
	pthread_cond_broadcast(&sy->cond);
	pthread_mutex_unlock(&sy->lock);
	pthread_join(sy->thread, NULL);
	sy->running = false;
}

void symbols_free(struct symbols *sy)
{
	if (!sy)
		return;
	symbols_stop(sy);
	free(sy->stacks);
	table_free(&sy->frames);
	table_free(&sy->nodes);
	free(sy->queue);
	free(sy->maps_text);
	free(sy->maps_published);
	free(sy->maps_pending);
	symdb_free(sy->db);
	free(sy);
}
