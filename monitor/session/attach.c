/* attach: open a traced process's segment, take the consumer claim and prepare the engine
 * (session_attach; session_run binds through here too). Refuses with one line in err, never
 * touches a segment it could not claim. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "session/session_internal.h"
#include "symbols/symbols.h"

void session_read_cmdline(pid_t pid, char *out, size_t len)
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
void session_slot_info(void *ctx, uint16_t slot, int32_t *tid, char name[16], uint32_t *gen)
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
/* Takes the consumer claim. From here the target pushes events and waits (bounded) when the ring
 * is full, so session_start starts draining before anything slow (the symbolizer). */
static int session_claim(struct session *s, char *err, size_t len)
{
	pid_t holder = 0;
	int rc = shm_consumer_claim(&s->seg, &holder);
	struct memtop_seg_header h;
	if (rc == -EBUSY && shm_header_read(&s->seg, &h) == 0 && h.live_mode != MEMTOP_LIVE_OFF) {
		/* another monitor drains the ring: read the live table beside it (late_attach.c) */
		fprintf(stderr, "memtop: notice: process %d is monitored by memtop (pid %d): reading its "
			"live table (MEMTOP_LIVE=%s) beside it\n", (int)s->pid, (int)holder,
			session_live_mode_name(h.live_mode));
		s->reader = true;
		return 0;
	}
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
/* Claims the opened segment and prepares the engine. */
int session_bind(struct session *s, char *err, size_t len)
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
	/* read before the claim: the target clears the flag as soon as it sees us */
	struct memtop_seg_header pre;
	bool waiting = shm_header_read(&s->seg, &pre) == 0 && (pre.flags & MEMTOP_FLAG_WAITING);
	int rc = session_claim(s, err, len);
	if (rc)
		return rc;
	s->held_at_start = waiting && !s->reader;
	s->claimed = !s->reader;
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) != 0) {
		snprintf(err, len, "segment of process %d was truncated while being read", (int)s->pid);
		return -EIO;
	}
	memcpy(s->exe, h.exe, sizeof(s->exe) - 1);
	s->exe[sizeof(s->exe) - 1] = '\0';
	s->target_start_ticks = h.start_time;
	session_read_cmdline(s->pid, s->command, sizeof(s->command));
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
void session_note_image(struct session *s)
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
	if (s->opt.tree_root > 0 && (shm_header_read(&s->seg, &h) != 0 || !(h.flags & MEMTOP_FLAG_TREE) ||
				     h.tree_root != s->opt.tree_root)) {
		/* a descendant started outside memtop's follow (its own LD_PRELOAD), or another tree's */
		snprintf(err, len, "process %d " SESSION_NOT_IN_TREE " %d", (int)pid, (int)s->opt.tree_root);
		session_destroy(s);
		return NULL;
	}
	if (session_bind(s, err, len)) {
		session_destroy(s);
		return NULL;
	}
	return s;
}
