/* session: attach to a traced process (or start one under the preload), run the ingest thread that
 * drains the ring into the engine, heartbeat the claim, and notice the target's exit or crash.
 * Must never block the target: waits on uncommitted tickets only while the producer may still live. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "strpool.h"
#include "symbols.h"
#include "traceable.h"

#define INGEST_BATCH 1024
#define INGEST_NAP_US 50

static void session_adopt_symbols(struct session *s);
static void session_note_image(struct session *s);
#define HEARTBEAT_NS (100ull * 1000000ull)
#define LIVENESS_NS (20ull * 1000000ull)
/* Our own child (memtop run/report) is checked with one waitpid(WNOHANG): cheap enough to do often,
 * and a short-lived target's report should not wait 20 ms to notice the exit. */
#define LIVENESS_CHILD_NS (2ull * 1000000ull)

void session_default_options(struct session_options *o)
{
	memset(o, 0, sizeof(*o));
	o->publish_ms = 200;
	o->history_ms = 1000;
	o->growth_ms = 1000;
	o->pending_wait_ms = 1000;
}

static void read_cmdline(pid_t pid, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0' || (unsigned char)out[i] < 0x20)
			out[i] = ' ';
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* The engine asks for a thread's identity the first time a slot appears in an event. */
static void session_slot_info(void *ctx, uint16_t slot, int32_t *tid, char name[16], uint32_t *gen)
{
	struct session *s = ctx;
	struct memtop_thread_slot ts;
	if (shm_thread_read(&s->seg, slot, &ts) != 0)
		return;
	*tid = ts.tid;
	memcpy(name, ts.name, 16);
	name[15] = '\0';
	*gen = ts.generation;
	if (slot < s->seg.threads_count)
		s->slot_generation[slot] = ts.generation;
}

static struct session *session_new(const struct session_options *o)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (o)
		s->opt = *o;
	else
		session_default_options(&s->opt);
	s->seg.fd = -1;
	s->state = MODEL_STATE_STARTING;
	pthread_mutex_init(&s->sym_lock, NULL);
	pthread_rwlock_init(&s->seg_lock, NULL);
	pthread_mutex_init(&s->finish_lock, NULL);
	pthread_cond_init(&s->finish_cond, NULL);
	return s;
}

/* ---- symbolizers: one per program image, borrowed by readers, freed when the last one is done ---- */

struct session_symref {
	struct symbols *sym;
	unsigned borrowers;   /* readers between session_symbols_get and _put */
	bool retired;         /* its image is gone (exec): free it once nobody borrows it */
	struct session_symref *next;
};

/* Under sym_lock. */
static struct session_symref *session_symref_find(struct session *s, struct symbols *sym)
{
	for (struct session_symref *r = s->symrefs; r; r = r->next)
		if (r->sym == sym)
			return r;
	return NULL;
}

/* Under sym_lock: unlinks r; the caller frees r->sym and r outside the lock. */
static void session_symref_unlink(struct session *s, struct session_symref *r)
{
	for (struct session_symref **p = &s->symrefs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			return;
		}
}

/* Under sym_lock: a retired symbolizer that nobody borrows any more leaves the list; the caller
 * frees it (session_symref_free) after dropping the lock. NULL when it must stay. */
static struct session_symref *session_symref_take_if_done(struct session *s, struct session_symref *r)
{
	if (!r || !r->retired || r->borrowers > 0)
		return NULL;
	session_symref_unlink(s, r);
	return r;
}

static void session_symref_free(struct session_symref *r)
{
	if (!r)
		return;
	symbols_free(r->sym);
	free(r);
}

/* Makes sym the current symbolizer (it was just started). -ENOMEM leaves it to the caller. */
static int session_symbols_install(struct session *s, struct symbols *sym)
{
	struct session_symref *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->sym = sym;
	pthread_mutex_lock(&s->sym_lock);
	r->next = s->symrefs;
	s->symrefs = r;
	__atomic_store_n(&s->sym, sym, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->sym_lock);
	return 0;
}

/* Ingest thread, at exec: the current symbolizer knows only the old image. Readers no longer get
 * it; it is freed now, or by its last borrower. */
static void session_symbols_retire(struct session *s)
{
	struct symbols *sym = __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE);
	if (!sym)
		return;
	symbols_stop(sym);
	pthread_mutex_lock(&s->sym_lock);
	__atomic_store_n(&s->sym, NULL, __ATOMIC_RELEASE);
	struct session_symref *r = session_symref_find(s, sym);
	if (r)
		r->retired = true;
	struct session_symref *done = session_symref_take_if_done(s, r);
	pthread_mutex_unlock(&s->sym_lock);
	session_symref_free(done);
}

struct symbols *session_symbols_get(struct session *s)
{
	pthread_mutex_lock(&s->sym_lock);
	struct symbols *sym = s->sym;
	struct session_symref *r = sym ? session_symref_find(s, sym) : NULL;
	if (r)
		r->borrowers++;
	pthread_mutex_unlock(&s->sym_lock);
	return r ? sym : NULL;
}

void session_symbols_put(struct session *s, struct symbols *sym)
{
	if (!sym)
		return;
	pthread_mutex_lock(&s->sym_lock);
	struct session_symref *r = session_symref_find(s, sym);
	if (r && r->borrowers > 0)
		r->borrowers--;
	struct session_symref *done = session_symref_take_if_done(s, r);
	pthread_mutex_unlock(&s->sym_lock);
	session_symref_free(done);
}

/* session_destroy: every thread is stopped, nobody borrows any more. */
static void session_symbols_free_all(struct session *s)
{
	for (struct session_symref *r = s->symrefs, *nx; r; r = nx) {
		nx = r->next;
		session_symref_free(r);
	}
	s->symrefs = NULL;
	s->sym = NULL;
}

/* Takes the consumer claim. From here the target pushes events and waits (bounded) when the ring
 * is full, so session_start starts draining before anything slow (the symbolizer). */
static int session_claim(struct session *s, char *err, size_t len)
{
	pid_t holder = 0;
	int rc = shm_consumer_claim(&s->seg, &holder);
	if (rc == -EBUSY) {
		snprintf(err, len, "process %d is already monitored by memtop (pid %d): quit that one first",
			 (int)s->pid, (int)holder);
		return rc;
	}
	if (rc == -ENOSPC) {
		/* the first monitor backs the ring and stack table: say how much room that takes */
		snprintf(err, len, "not enough room in /dev/shm to trace process %d (%lu KiB needed): %s",
			 (int)s->pid, (unsigned long)(shm_segment_claim_bytes(&s->seg) >> 10),
			 strerror(-rc));
		return rc;
	}
	if (rc == -EIO) {
		snprintf(err, len, "segment of process %d was truncated while being claimed", (int)s->pid);
		return rc;
	}
	if (rc) {
		snprintf(err, len, "cannot claim the segment of process %d: %s", (int)s->pid, strerror(-rc));
		return rc;
	}
	return 0;
}

/* --no-symbols: no symbolizer keeps the map, yet a snapshot must carry it to be symbolized later.
 * Takes `maps` (NULL: kept as it was). */
static void session_keep_raw_maps(struct session *s, char *maps)
{
	if (!maps)
		return;
	pthread_mutex_lock(&s->sym_lock);
	char *old = s->raw_maps;
	s->raw_maps = maps;
	pthread_mutex_unlock(&s->sym_lock);
	free(old);
}

char *session_maps_copy(struct session *s)
{
	struct symbols *sym = session_symbols_get(s);
	char *m = NULL;
	if (sym) {
		m = symbols_maps_copy(sym);
	} else {
		pthread_mutex_lock(&s->sym_lock);
		m = s->raw_maps ? strdup(s->raw_maps) : NULL;
		pthread_mutex_unlock(&s->sym_lock);
	}
	session_symbols_put(s, sym);
	return m;
}

/* Claims the opened segment and prepares the engine. */
static int session_bind(struct session *s, char *err, size_t len)
{
	/* The map now, before the claim: a target started with MEMTOP_WAIT is still held at its start,
	 * whole, and may be gone (a zombie has no map) by the time the symbolizer is set up. */
	free(s->initial_maps);
	s->initial_maps = s->opt.no_symbols ? NULL : symbols_read_maps(s->pid);
	/* The executable too: once claimed, the target may exec at once (noted later, a slow monitor
	 * took the new image for the traced one and never saw the exec). */
	session_note_image(s);
	if (s->opt.no_symbols)
		session_keep_raw_maps(s, symbols_read_maps(s->pid));
	int rc = session_claim(s, err, len);
	if (rc)
		return rc;
	s->claimed = true;
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) != 0) {
		snprintf(err, len, "segment of process %d was truncated while being read", (int)s->pid);
		return -EIO;
	}
	memcpy(s->exe, h.exe, sizeof(s->exe) - 1);
	s->exe[sizeof(s->exe) - 1] = '\0';
	s->target_start_ticks = h.start_time;
	read_cmdline(s->pid, s->command, sizeof(s->command));
	if (!s->command[0])
		snprintf(s->command, sizeof s->command, "%s", s->exe);
	s->attach_mono_ns = shm_clock_ns(CLOCK_MONOTONIC);
	s->attach_real_ns = shm_clock_ns(CLOCK_REALTIME);
	s->slot_generation = calloc(s->seg.threads_count ? s->seg.threads_count : 1, sizeof(uint32_t));
	if (!s->slot_generation || engine_init(&s->eng, s->seg.threads_count, s->seg.stacks_cap) != 0) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	s->eng.slot_info = session_slot_info;
	s->eng.slot_info_ctx = s;
	__atomic_store_n(&s->state, MODEL_STATE_RUNNING, __ATOMIC_RELEASE);
	return 0;
}

/* The executable of the image being traced (session_exec_untraceable compares against it). Called
 * at bind before the claim, while a target started by us still waits for us, and once per image
 * followed. */
static void session_note_image(struct session *s)
{
	char link[64];
	struct stat st;
	snprintf(link, sizeof link, "/proc/%d/exe", (int)s->pid);
	s->image_known = stat(link, &st) == 0;
	s->image_dev = s->image_known ? st.st_dev : 0;
	s->image_ino = s->image_known ? st.st_ino : 0;
	s->image_execs = s->execs;
	s->image_changed_ns = 0;
}

/* Root attaching to another user's segment: allowed, but never silently. */
static void session_notice_owner(struct session *s)
{
	struct stat st;
	if (s->seg.fd < 0 || fstat(s->seg.fd, &st) != 0 || st.st_uid == geteuid())
		return;
	fprintf(stderr, "memtop: notice: segment /memtop.%d belongs to uid %u; attaching as root\n",
		(int)s->pid, (unsigned)st.st_uid);
}

struct session *session_attach(pid_t pid, const struct session_options *o, char *err, size_t len)
{
	if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) {
		char name[64], path[96];
		shm_segment_name(pid, name, sizeof name);
		snprintf(path, sizeof path, "/dev/shm%s", name);
		if (pid > 0 && access(path, F_OK) == 0)
			snprintf(err, len, "process %d is gone; its segment %s is stale: remove it with "
				 "'memtop gc'", (int)pid, name);
		else
			snprintf(err, len, "no such process: %d", (int)pid);
		return NULL;
	}
	struct session *s = session_new(o);
	if (!s) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->pid = pid;
	int rc;
	/* root may watch anybody's process (issue 6), and is told so below */
	if (geteuid() == 0)
		s->opt.allow_other_uid = true;
	/* a target that is just starting may not have initialised its segment yet: wait up to 1 s */
	for (int tries = 0; (rc = shm_segment_open(&s->seg, pid, s->opt.allow_other_uid, err, len)) ==
			    -EAGAIN && tries < 100; tries++)
		usleep(10000);
	if (rc) {
		free(s);
		return NULL;
	}
	s->seg_open = true;
	session_notice_owner(s);
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) == 0 && shm_segment_is_stale(&h)) {
		snprintf(err, len, "segment /memtop.%d is stale: it was left by an earlier process with the "
			 "same pid (run 'memtop gc' to remove it)", (int)pid);
		session_destroy(s);
		return NULL;
	}
	if (session_bind(s, err, len)) {
		session_destroy(s);
		return NULL;
	}
	return s;
}

/* ---- memtop run: start the target under the preload ---- */

static void child_exec(char *const argv[], const char *preload, int errfd)
{
	const char *old = getenv("LD_PRELOAD");
	char *val = NULL;
	if (old && *old) {
		size_t n = strlen(preload) + strlen(old) + 2;
		val = malloc(n);
		if (val)
			snprintf(val, n, "%s:%s", preload, old);
	}
	setenv("LD_PRELOAD", val ? val : preload, 1);
	setenv("MEMTOP_WAIT", "1", 1);
	execvp(argv[0], argv);
	int e = errno;
	if (write(errfd, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

static int wait_for_segment(struct session *s, const char *cmd, char *err, size_t len)
{
	uint64_t deadline = shm_clock_ns(CLOCK_MONOTONIC) + 10ull * 1000000000ull;
	char why[256] = "";
	for (;;) {
		int rc = shm_segment_open(&s->seg, s->child, false, why, sizeof why);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT && rc != -EAGAIN && rc != -EINVAL) {
			snprintf(err, len, "%s: %s (pid %d) runs on untraced, and memtop waits for it to end",
				 why, cmd, (int)s->child);
			return rc;
		}
		int st;
		if (waitpid(s->child, &st, WNOHANG) == s->child) {
			s->child = 0;
			s->untraced_waited = true;
			s->untraced_exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			snprintf(err, len, "%s exited (%s %d) without a memtop segment, untraced: is the "
				 "preload library loadable (see --preload)?", cmd,
				 WIFEXITED(st) ? "status" : "signal",
				 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return -ECHILD;
		}
		if (shm_clock_ns(CLOCK_MONOTONIC) > deadline) {
			snprintf(err, len, "%s (pid %d) made no memtop segment within 10 s (%s): it runs on "
				 "untraced, and memtop waits for it to end", cmd, (int)s->child,
				 why[0] ? why : "no segment");
			return -ETIMEDOUT;
		}
		usleep(250); /* the target waits for us from here on: keep its start short */
	}
}

struct session *session_run(char *const argv[], const char *preload, const struct session_options *o,
			    char *err, size_t len)
{
	char why[1024];
	if (traceable_check(argv[0], why, sizeof why) != 0) {
		snprintf(err, len, "%s: memtop cannot trace it", why);
		return NULL;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, len, "pipe: %s", strerror(errno));
		return NULL;
	}
	struct session *s = session_new(o);
	if (!s) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		snprintf(err, len, "fork: %s", strerror(errno));
		free(s);
		return NULL;
	}
	if (child == 0) {
		close(pfd[0]);
		child_exec(argv, preload, pfd[1]);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	s->child = s->pid = child;
	s->from_start = true;
	if (n == (ssize_t)sizeof e) {
		waitpid(child, NULL, 0);
		snprintf(err, len, "cannot run %s: %s", argv[0], strerror(e));
		free(s);
		return NULL;
	}
	if (wait_for_segment(s, argv[0], err, len) != 0) {
		/* untraceable after all (it exec'd one, or its preload made no segment): it was not
		 * started waiting for us, so it is left to run; the caller waits for it */
		s->untraced = true;
		return s;
	}
	s->seg_open = true;
	if (session_bind(s, err, len)) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		s->child = 0;
		session_destroy(s);
		return NULL;
	}
	return s;
}

/* ---- ingest ---- */

static bool proc_is_zombie_or_gone(pid_t pid, uint64_t start_ticks)
{
	char state;
	uint64_t start;
	if (!shm_proc_stat(pid, &state, &start) || state == 'Z' || state == 'X')
		return true;
	return start_ticks && start != start_ticks;
}

/* Ingest thread (or before it starts): the state is read by other threads (the symbolizer, the
 * main thread's exit status), so it is stored last, with release, after exit_status/term_signal. */
static void session_set_state(struct session *s, enum model_state st)
{
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
}

/* Returns true once the target is gone; records how it ended. */
static bool session_target_gone(struct session *s)
{
	struct memtop_seg_header h;
	bool have_hdr = shm_header_read(&s->seg, &h) == 0;
	if (s->child) {
		int st;
		pid_t r = waitpid(s->child, &st, WNOHANG);
		if (r != s->child)
			return false;
		s->child = 0;
		if (WIFEXITED(st)) {
			s->exit_status = WEXITSTATUS(st);
			/* read again now that it is reaped: the exit mark comes just before the end. No
			 * mark: the exit was another image's (an exec with LD_PRELOAD dropped that ended
			 * before EXEC_UNTRACED_NS) or a raw exit system call */
			if (shm_header_read(&s->seg, &h) == 0 && !(h.flags & MEMTOP_FLAG_EXITED))
				__atomic_store_n(&s->exit_unseen, true, __ATOMIC_RELEASE);
			session_set_state(s, MODEL_STATE_EXITED);
		} else {
			s->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
			session_set_state(s, MODEL_STATE_CRASHED);
		}
		return true;
	}
	if (s->from_start && s->state != MODEL_STATE_RUNNING)
		return true; /* child already reaped */
	if (!proc_is_zombie_or_gone(s->pid, s->target_start_ticks))
		return false;
	if (have_hdr && (h.flags & MEMTOP_FLAG_EXITED)) {
		s->exit_status = h.exit_status;
		session_set_state(s, MODEL_STATE_EXITED);
	} else {
		session_set_state(s, MODEL_STATE_CRASHED);
	}
	return true;
}

int session_stack_read(struct session *s, uint32_t id, uint64_t *pcs, uint32_t max)
{
	pthread_rwlock_rdlock(&s->seg_lock);
	int n = s->seg_open ? shm_stack_read(&s->seg, id, pcs, max) : -1;
	pthread_rwlock_unlock(&s->seg_lock);
	return n;
}

/* Validates every record (the segment is untrusted), compacts the valid ones, applies them. */
static void session_apply_batch(struct session *s, struct memtop_event *buf, size_t n)
{
	size_t valid = 0;
	for (size_t i = 0; i < n; i++) {
		if (shm_event_check(&s->seg, &buf[i]) != NULL) {
			s->eng.invalid_events++;
			continue;
		}
		if (valid != i)
			buf[valid] = buf[i];
		valid++;
	}
	session_adopt_symbols(s);
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, buf, valid);
	urcu_memb_read_unlock();
	if (s->eng.maps_changed) {
		/* read the map now, while the library just loaded is surely still there */
		s->eng.maps_changed = false;
		if (s->ingest_sym)
			symbols_maps_update(s->ingest_sym, symbols_read_maps(s->pid));
		else if (s->opt.no_symbols)
			session_keep_raw_maps(s, symbols_read_maps(s->pid));
		else
			s->early_maps_changed = true;
	}
	engine_batch_end(&s->eng);
}

static void session_handle_requests(struct session *s, uint64_t now)
{
	int m = __atomic_exchange_n(&s->mark_request, 0, __ATOMIC_ACQ_REL);
	if (m == 1)
		engine_mark_all(&s->eng, now);
	else if (m == 2)
		engine_unmark(&s->eng);
	if (m)
		__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
}

/* Slots whose generation changed belong to a new thread now. Checked at publish time only. */
static void session_check_slots(struct session *s)
{
	for (uint32_t i = 0; i < s->eng.n_slots && i < s->seg.threads_count; i++) {
		if (s->eng.slot_thread[i] == ENGINE_NO_THREAD)
			continue;
		struct memtop_thread_slot ts;
		if (shm_thread_read(&s->seg, i, &ts) != 0)
			return;
		struct engine_thread *t = &s->eng.threads[s->eng.slot_thread[i]];
		if (ts.generation != s->slot_generation[i] ||
		    (ts.state == MEMTOP_SLOT_FREE && !shm_thread_is_overflow(&s->seg, (uint16_t)i))) {
			if (ts.state == MEMTOP_SLOT_FREE)
				t->alive = false;
			if (ts.generation != s->slot_generation[i])
				engine_slot_reused(&s->eng, (uint16_t)i);
		} else if (s->eng.names_changed) {
			memcpy(t->name, ts.name, 16);
			t->name[15] = '\0';
		}
	}
	s->eng.names_changed = false;
}

static void session_finish(struct session *s, struct memtop_event *buf)
{
	/* The producers are gone: drain what is left, skipping tickets nobody will commit. */
	for (int guard = 0; guard < (1 << 26); guard++) {
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&s->seg, buf, INGEST_BATCH, &n);
		if (n)
			session_apply_batch(s, buf, n);
		if (st == SHM_POP_PENDING) {
			shm_ring_skip(&s->seg);
			s->skipped_tickets++;
		} else if (st != SHM_POP_OK) {
			break;
		}
	}
}

static void session_unlink_segment(struct session *s)
{
	char name[64];
	shm_segment_name(s->pid, name, sizeof name);
	shm_unlink(name);
}

/* ---- exec: the new image replaces the segment under the same name ---- */

#define EXEC_FOLLOW_NS (2000ull * 1000000ull)

static bool session_execed(struct session *s)
{
	struct memtop_seg_header h;
	return shm_header_read(&s->seg, &h) == 0 && (h.flags & MEMTOP_FLAG_EXECED);
}

/* Opens the new image's segment (it may not exist or be ready yet: retried for a while). */
static int session_open_next(struct session *s, struct shm_segment *next)
{
	char why[256];
	uint64_t deadline = shm_clock_ns(CLOCK_MONOTONIC) + EXEC_FOLLOW_NS;
	for (;;) {
		int rc = shm_segment_open(next, s->pid, s->opt.allow_other_uid, why, sizeof why);
		if (rc == 0) {
			struct memtop_seg_header h;
			if (shm_header_read(next, &h) == 0 && !(h.flags & MEMTOP_FLAG_EXECED))
				return 0;
			shm_segment_close(next, false); /* still the old one (a stale name): wait */
			rc = -EAGAIN;
		}
		if ((rc != -ENOENT && rc != -EAGAIN && rc != -EINVAL) ||
		    shm_clock_ns(CLOCK_MONOTONIC) > deadline ||
		    __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) ||
		    proc_is_zombie_or_gone(s->pid, s->target_start_ticks))
			return rc ? rc : -ENOENT;
		usleep(2000);
	}
}

/* The model starts over for the new image: its heap, threads and stack ids share nothing with the
 * old one. The old symbolizer is stopped, kept (readers may hold its frames) and freed at the end. */
static int session_switch_image(struct session *s, struct shm_segment *next)
{
	session_symbols_retire(s);
	s->ingest_sym = NULL;
	s->eng.on_new_site = NULL;
	s->eng.on_new_site_ctx = NULL;
	struct shm_segment old;
	pthread_rwlock_wrlock(&s->seg_lock);
	old = s->seg;
	s->seg = *next;
	pthread_rwlock_unlock(&s->seg_lock);
	shm_segment_close(&old, false); /* never unlink: the name is the new image's */
	uint32_t *gen = calloc(s->seg.threads_count ? s->seg.threads_count : 1, sizeof(uint32_t));
	if (!gen || engine_reset(&s->eng, s->seg.threads_count, s->seg.stacks_cap) != 0) {
		free(gen);
		return -ENOMEM;
	}
	free(s->slot_generation);
	s->slot_generation = gen;
	memset(&s->target_totals, 0, sizeof(s->target_totals));
	s->skipped_tickets = 0;
	s->rate_allocs = s->rate_frees = s->rate_bytes = s->rate_events = 0;
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) == 0) {
		memcpy(s->exe, h.exe, sizeof(s->exe) - 1);
		s->exe[sizeof(s->exe) - 1] = '\0';
	}
	read_cmdline(s->pid, s->command, sizeof(s->command));
	if (!s->command[0])
		snprintf(s->command, sizeof s->command, "%s", s->exe);
	s->execs++;
	if (s->opt.no_symbols)
		session_keep_raw_maps(s, symbols_read_maps(s->pid));
	if (!s->opt.no_symbols) {
		char err[256];
		struct symbols *sym = symbols_start_live(s, err, sizeof err);
		if (sym && session_symbols_install(s, sym) == 0) {
			s->ingest_sym = sym;
			s->eng.on_new_site = symbols_enqueue_site;
			s->eng.on_new_site_ctx = sym;
		} else {
			symbols_free(sym); /* this image shows raw addresses */
		}
	}
	return 0;
}

/* The target exec'd: drain what the old image left, then follow it to its new segment (the new
 * image waits for us a moment at start). False when it cannot be followed. */
static bool session_follow_exec(struct session *s, struct memtop_event *buf)
{
	session_finish(s, buf); /* every thread of the old image is gone: skip what they left */
	struct shm_segment next;
	if (session_open_next(s, &next) != 0)
		return false;
	if (session_switch_image(s, &next) != 0)
		return false;
	pid_t holder = 0;
	if (shm_consumer_claim(&s->seg, &holder) != 0)
		return false;
	shm_consumer_heartbeat(&s->seg);
	__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
	return true;
}

/* The image that made our segment is gone (exec): its name goes, unless a newer image already
 * put a segment of its own under it. */
static void session_unlink_image_segment(struct session *s)
{
	char name[64], path[96];
	struct stat mine, named;
	shm_segment_name(s->pid, name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	if (s->seg.fd >= 0 && fstat(s->seg.fd, &mine) == 0 && lstat(path, &named) == 0 &&
	    mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
		shm_unlink(name);
}

/* The target exec'd a program the preload cannot reach: no new image will mark the old segment or
 * make a new one. Seen as /proc/PID/exe turning into another file that is untraceable (static,
 * setuid...: at once), or that made no segment within EXEC_UNTRACED_NS (LD_PRELOAD dropped from
 * its environment). Files are told apart by device and inode: paths differ across mount
 * namespaces and for deleted binaries. */
#define EXEC_UNTRACED_NS (5000ull * 1000000ull)

/* True when /proc/PID/status shows real and effective user or group ids apart: the process runs a
 * setuid or setgid program (its ids were ours when it started under us). */
static bool session_ids_apart(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool apart = false;
	unsigned long real, eff;
	while (fgets(line, sizeof line, f))
		if ((sscanf(line, "Uid: %lu %lu", &real, &eff) == 2 ||
		     sscanf(line, "Gid: %lu %lu", &real, &eff) == 2) && real != eff)
			apart = true;
	fclose(f);
	return apart;
}

static bool session_exec_untraceable(struct session *s, uint64_t now)
{
	char link[64], path[512];
	struct stat st;
	snprintf(link, sizeof link, "/proc/%d/exe", (int)s->pid);
	if (stat(link, &st) != 0) {
		/* The exec of a setuid or setgid program makes the process undumpable: a monitor
		 * without CAP_SYS_PTRACE may no longer read its exe, but its ids show why. */
		if (errno != EACCES || !session_ids_apart(s->pid))
			return false; /* gone, or a zombie: session_target_gone tells */
		snprintf(s->exec_lost_why, sizeof s->exec_lost_why,
			 "it runs with other user or group ids (setuid or setgid), so the loader "
			 "ignores LD_PRELOAD");
		return true;
	}
	if (!s->image_known || s->image_execs != s->execs) {
		/* a new image was followed (it waits for us at its start): this file is the one traced */
		session_note_image(s);
		return false;
	}
	if (st.st_dev == s->image_dev && st.st_ino == s->image_ino)
		return false;
	ssize_t n = readlink(link, path, sizeof path - 1);
	path[n > 0 ? n : 0] = '\0';
	if (n > 0 && traceable_check_path(path, s->exec_lost_why, sizeof s->exec_lost_why) != 0)
		return true;
	s->exec_lost_why[0] = '\0';
	if (!s->image_changed_ns)
		s->image_changed_ns = now;
	return now - s->image_changed_ns >= EXEC_UNTRACED_NS;
}

/* After the target is gone the thread stays to serve marks and publish requests on the final state. */
static void session_idle_loop(struct session *s)
{
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		if (!s->ingest_sym) {
			session_adopt_symbols(s);
			if (s->ingest_sym)
				__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
		}
		session_handle_requests(s, now);
		if (__atomic_exchange_n(&s->publish_request, 0, __ATOMIC_ACQ_REL))
			session_publish_view(s, now);
		usleep(10000);
	}
}

static void *session_ingest_main(void *arg)
{
	struct session *s = arg;
	urcu_memb_register_thread();
	struct memtop_event *buf = malloc(sizeof(*buf) * INGEST_BATCH);
	uint64_t last_hb = 0, last_live = 0, last_pub = 0;
	unsigned idle_us = 50; /* grows while the ring stays empty, back to 50 on data */
	bool gone = false;
	while (buf && !gone) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		if (now - last_hb >= HEARTBEAT_NS) {
			shm_consumer_heartbeat(&s->seg);
			last_hb = now;
		}
		session_adopt_symbols(s);
		session_handle_requests(s, now);
		if (now - last_pub >= (uint64_t)s->opt.publish_ms * 1000000ull ||
		    __atomic_exchange_n(&s->publish_request, 0, __ATOMIC_ACQ_REL)) {
			session_check_slots(s);
			session_publish_view(s, now);
			last_pub = now;
		}
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			break;
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&s->seg, buf, INGEST_BATCH, &n);
		if (n) {
			session_apply_batch(s, buf, n);
			idle_us = 50;
			/* A short batch: the ring is drained and the producers are running. Polling again
			 * at once would take a few events at a time (each pop costs a cache-line transfer
			 * per record and our per-batch work) on a core the target could use; a nap lets
			 * them fill a batch (a 64 k ring holds ~5 ms of a 12 M events/s storm). */
			if (n < INGEST_BATCH / 4)
				usleep(INGEST_NAP_US);
			continue;
		}
		if (st == SHM_POP_BUS) {
			/* the file shrank under the mapping: the target may live on, we just cannot
			 * read it any more. Keep the last good state and say so; never call it a crash. */
			__atomic_store_n(&s->segment_truncated, true, __ATOMIC_RELEASE);
			gone = true;
			break;
		}
		if (st == SHM_POP_EMPTY)
			__atomic_add_fetch(&s->empty_polls, 1, __ATOMIC_RELEASE);
		if (now - last_live >= (s->child ? LIVENESS_CHILD_NS : LIVENESS_NS)) {
			last_live = now;
			/* the first symbolizer must be in place before the images change under it */
			if (session_execed(s) && (s->opt.no_symbols || __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE))) {
				session_adopt_symbols(s);
				if (session_follow_exec(s, buf))
					continue;
				/* not followed: keep the old image's final state and say why */
				__atomic_store_n(&s->exec_lost, true, __ATOMIC_RELEASE);
				gone = true;
				break;
			}
			if (session_exec_untraceable(s, now)) {
				session_finish(s, buf); /* the old image's threads are gone */
				session_unlink_image_segment(s);
				__atomic_store_n(&s->exec_lost, true, __ATOMIC_RELEASE);
				gone = true;
				break;
			}
			if (session_target_gone(s)) {
				session_finish(s, buf);
				session_unlink_segment(s);
				gone = true;
				break;
			}
		}
		/* an idle target costs few wakeups; 2 ms at most, a 64 k ring holds that at 30 M ev/s */
		if (st == SHM_POP_PENDING) {
			usleep(50);
		} else {
			usleep(idle_us);
			if (idle_us < 2000)
				idle_us *= 2;
		}
	}
	session_check_slots(s);
	session_publish_view(s, shm_clock_ns(CLOCK_MONOTONIC));
	__atomic_store_n(&s->finished, gone ? 1 : 0, __ATOMIC_RELEASE);
	/* wake memtop report at once: it prints as soon as the target is gone and drained */
	pthread_mutex_lock(&s->finish_lock);
	pthread_cond_broadcast(&s->finish_cond);
	pthread_mutex_unlock(&s->finish_lock);
	if (gone)
		session_idle_loop(s);
	free(buf);
	urcu_memb_unregister_thread();
	return NULL;
}

/* Sites seen before the symbolizer is ready: queued for it (ingest thread only). */
static void session_early_site(void *ctx, uint32_t stack_id)
{
	struct session *s = ctx;
	if (s->early_n == s->early_cap) {
		size_t cap = s->early_cap ? s->early_cap * 2 : 256;
		uint32_t *p = realloc(s->early_sites, cap * sizeof(*p));
		if (!p)
			return; /* that site shows its raw address: better than stopping ingest */
		s->early_sites = p;
		s->early_cap = cap;
	}
	s->early_sites[s->early_n++] = stack_id;
}

/* Ingest thread: hands the sites seen so far to a symbolizer that just became ready. */
static void session_adopt_symbols(struct session *s)
{
	if (s->ingest_sym || s->opt.no_symbols)
		return;
	struct symbols *sym = __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE);
	if (!sym)
		return;
	s->ingest_sym = sym;
	s->eng.on_new_site = symbols_enqueue_site;
	s->eng.on_new_site_ctx = sym;
	for (size_t i = 0; i < s->early_n; i++)
		symbols_enqueue_site(sym, s->early_sites[i]);
	free(s->early_sites);
	s->early_sites = NULL;
	s->early_n = s->early_cap = 0;
	if (s->early_maps_changed)
		symbols_maps_update(sym, symbols_read_maps(s->pid));
	__atomic_store_n(&s->sym_adopted, 1, __ATOMIC_RELEASE);
}

/* memtop run/report: a target we started and cannot monitor is not left waiting for us. */
static void session_kill_child(struct session *s)
{
	if (!s->child)
		return;
	kill(s->child, SIGKILL);
	waitpid(s->child, NULL, 0);
	s->child = 0;
}

/* The claim is held since attach: drain at once, and let the symbolizer (slow to set up: libdwfl
 * reads every module) join the running ingest thread when it is ready. */
int session_start(struct session *s, char *err, size_t len)
{
	if (!s->opt.no_symbols) {
		s->eng.on_new_site = session_early_site;
		s->eng.on_new_site_ctx = s;
		s->strings = strpool_new();
		if (!s->strings) {
			snprintf(err, len, "out of memory");
			session_kill_child(s);
			return -1;
		}
	}
	if (pthread_create(&s->ingest_thread, NULL, session_ingest_main, s) != 0) {
		snprintf(err, len, "cannot start the ingest thread");
		session_kill_child(s);
		return -1;
	}
	s->ingest_running = true;
	if (!s->opt.no_symbols) {
		struct symbols *sym = symbols_start_live(s, err, len);
		if (!sym)
			return -1; /* session_destroy stops the ingest thread */
		if (session_symbols_install(s, sym) != 0) {
			symbols_free(sym);
			snprintf(err, len, "out of memory");
			return -1;
		}
		/* callers wait on the symbolizer next: it must know the early sites by then */
		for (int i = 0; i < 500 && !__atomic_load_n(&s->sym_adopted, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
	}
	return 0;
}

bool session_finished(struct session *s)
{
	return __atomic_load_n(&s->finished, __ATOMIC_ACQUIRE) != 0;
}

void session_wait_drained(struct session *s, unsigned timeout_ms)
{
	uint64_t start = __atomic_load_n(&s->empty_polls, __ATOMIC_ACQUIRE);
	for (unsigned waited = 0; waited < timeout_ms && !session_finished(s); waited += 2) {
		/* two empty polls after our call: the first may have started before it */
		if (__atomic_load_n(&s->empty_polls, __ATOMIC_ACQUIRE) >= start + 2)
			break;
		usleep(2000);
	}
	uint64_t gen = __atomic_load_n(&s->view_generation, __ATOMIC_ACQUIRE);
	model_request_publish(s);
	for (unsigned waited = 0; waited < 1000 && __atomic_load_n(&s->view_generation,
								   __ATOMIC_ACQUIRE) == gen; waited += 2)
		usleep(2000);
}

void session_wait_finished(struct session *s)
{
	pthread_mutex_lock(&s->finish_lock);
	while (s->ingest_running && !session_finished(s)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100000000; /* re-check now and then: the ingest thread may stop */
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->finish_cond, &s->finish_lock, &until);
	}
	pthread_mutex_unlock(&s->finish_lock);
}

bool session_wait_untraced(struct session *s)
{
	if (s->untraced_waited)
		return true;
	bool lost = s->untraced || __atomic_load_n(&s->exec_lost, __ATOMIC_ACQUIRE);
	if (!lost || !s->child || (s->ingest_running && !session_finished(s)))
		return false; /* the ingest thread still owns the child (it reaps it) */
	int st;
	pid_t r;
	while ((r = waitpid(s->child, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != s->child)
		return false;
	s->child = 0;
	s->untraced_waited = true;
	s->untraced_exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* the figures stay the old image's, but how the process ended is known now: a report
	 * written after this says so instead of "running" */
	if (WIFEXITED(st)) {
		/* atomic: the ingest thread, idle now, still reads them when it publishes */
		__atomic_store_n(&s->exit_status, WEXITSTATUS(st), __ATOMIC_RELAXED);
		session_set_state(s, MODEL_STATE_EXITED);
	} else {
		__atomic_store_n(&s->term_signal, WIFSIGNALED(st) ? WTERMSIG(st) : 0, __ATOMIC_RELAXED);
		session_set_state(s, MODEL_STATE_CRASHED);
	}
	if (s->ingest_running)
		session_wait_drained(s, 0); /* a view with that state */
	return true;
}

int session_exit_code(struct session *s)
{
	if (s->untraced_waited)
		return s->untraced_exit_code;
	/* acquire: the status was written before the state (session_set_state) */
	enum model_state st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (st == MODEL_STATE_EXITED)
		return s->exit_status;
	if (st == MODEL_STATE_CRASHED)
		return s->term_signal ? 128 + s->term_signal : 1;
	return 0;
}

/* A target that exits while a consumer holds the claim leaves the name to that consumer. A monitor
 * leaving before it noticed the exit removes it then, if the name is still this very segment. */
static void session_unlink_if_left_to_us(struct session *s)
{
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) != 0 || !(h.flags & MEMTOP_FLAG_EXITED))
		return;
	char name[64], path[96];
	shm_segment_name(s->pid, name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	struct stat mine, named;
	if (s->seg.fd >= 0 && fstat(s->seg.fd, &mine) == 0 && lstat(path, &named) == 0 &&
	    mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
		shm_unlink(name);
}

/* Exec into a program the preload cannot reach (static, setuid...) says which and why. */
static void session_say_exec_lost(struct session *s)
{
	const char *next = s->child ? "it runs on untraced, and memtop waits for it to end"
				    : "it runs on untraced";
	if (s->exec_lost_why[0])
		fprintf(stderr, "memtop: process %d exec'd a program memtop cannot trace: %s; figures "
			"frozen at the image before exec, %s\n", (int)s->pid, s->exec_lost_why, next);
	else
		fprintf(stderr, "memtop: process %d exec'd and its new image made no usable segment in "
			"time (LD_PRELOAD dropped?): figures frozen at the image before exec; %s\n",
			(int)s->pid, next);
}

/* From the last published view (the segment itself may be swapped by the ingest thread). */
static bool session_allocator_not_bound(struct session *s)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	bool unbound = v && v->session.allocator_not_bound;
	urcu_memb_read_unlock();
	return unbound;
}

int session_report_damage(struct session *s)
{
	if (!s)
		return 0;
	bool truncated = __atomic_load_n(&s->segment_truncated, __ATOMIC_ACQUIRE);
	bool damaged = __atomic_load_n(&s->segment_damaged, __ATOMIC_ACQUIRE);
	bool unfollowed = __atomic_load_n(&s->exec_lost, __ATOMIC_ACQUIRE);
	bool unbound = session_allocator_not_bound(s);
	bool unseen = __atomic_load_n(&s->exit_unseen, __ATOMIC_ACQUIRE) && !unfollowed;
	int said = __atomic_fetch_or(&s->damage_said, (truncated ? 1 : 0) | (damaged ? 2 : 0) |
				     (unfollowed ? 4 : 0) | (unbound ? 8 : 0) | (unseen ? 16 : 0),
				     __ATOMIC_ACQ_REL);
	if (unseen && !(said & 16))
		fprintf(stderr, "memtop: process %d ended without libmemtop seeing its exit: it exec'd a "
			"program started without it (LD_PRELOAD dropped?) or left by a raw exit system "
			"call; figures are those of its last traced image\n", (int)s->pid);
	if (unbound && !(said & 8))
		fprintf(stderr, "memtop: process %d calls another malloc than libmemtop's (an allocator "
			"preloaded before it?): nothing is recorded, its figures are zero\n", (int)s->pid);
	if (unfollowed && !(said & 4))
		session_say_exec_lost(s);
	if (truncated && !(said & 1))
		fprintf(stderr, "memtop: segment /memtop.%d truncated under the monitor: figures frozen at "
			"the last good read (process %d was not followed further)\n", (int)s->pid, (int)s->pid);
	if (damaged && !(said & 2))
		fprintf(stderr, "memtop: segment /memtop.%d damaged: its counters are impossible (scribbled "
			"memory?); target-side figures kept at the last sane read, state approximate\n",
			(int)s->pid);
	/* a child that went where memtop cannot follow ends with its own status (session_exit_code) */
	return truncated || (unfollowed && !s->child && !s->untraced_waited) ? 1 : 0;
}

void session_destroy(struct session *s)
{
	if (!s)
		return;
	if (s->ingest_running) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		pthread_join(s->ingest_thread, NULL);
		s->ingest_running = false;
	}
	/* Release the claim as soon as nobody drains, before the symbolizer's slow teardown: a
	 * claimed ring that nobody reads makes the target wait up to MEMTOP_BLOCK_MS per call. */
	if (s->seg_open && s->claimed && (!session_finished(s) || s->state == MODEL_STATE_RUNNING)) {
		shm_consumer_release(&s->seg);
		session_unlink_if_left_to_us(s);
	}
	for (struct session_symref *r = s->symrefs; r; r = r->next)
		symbols_stop(r->sym);
	if (s->seg_open) {
		shm_segment_close(&s->seg, false);
		s->seg_open = false;
	}
	urcu_memb_barrier();
	view_free_all(s);
	if (s->eng.slot_thread)
		engine_destroy(&s->eng);
	session_symbols_free_all(s);
	strpool_free(s->strings);
	pthread_mutex_destroy(&s->sym_lock);
	pthread_rwlock_destroy(&s->seg_lock);
	pthread_mutex_destroy(&s->finish_lock);
	pthread_cond_destroy(&s->finish_cond);
	free(s->slot_generation);
	free(s->early_sites);
	free(s->initial_maps);
	free(s->raw_maps);
	free(s);
}

/* ---- model.h requests that go through the ingest thread ---- */

void model_request_publish(struct session *s)
{
	__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
}

void model_mark_all(struct session *s)
{
	__atomic_store_n(&s->mark_request, 1, __ATOMIC_RELEASE);
}

void model_unmark(struct session *s)
{
	__atomic_store_n(&s->mark_request, 2, __ATOMIC_RELEASE);
}
