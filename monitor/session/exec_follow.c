/* exec_follow: the target exec'd. A traced new image replaces the segment under the same name and
 * the model starts over; an image the preload cannot reach (static, setuid, LD_PRELOAD dropped) is
 * detected and the old image's figures are kept. Ingest thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc/traceable.h"
#include "session/session_internal.h"
#include "symbols/symbols.h"

/* ---- exec: the new image replaces the segment under the same name ---- */

#define EXEC_FOLLOW_NS (2000ull * 1000000ull)

bool session_execed(struct session *s)
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
		    session_proc_gone(s->pid, s->target_start_ticks))
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
	session_read_cmdline(s->pid, s->command, sizeof(s->command));
	if (!s->command[0])
		snprintf(s->command, sizeof s->command, "%s", s->exe);
	s->execs++;
	if (s->opt.no_symbols)
		session_keep_raw_maps(s, symbols_read_maps(s->pid));
	if (!s->opt.no_symbols) {
		char err[256];
		struct symbols *sym = session_symbols_start(s, err, sizeof err);
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
bool session_follow_exec(struct session *s, struct memtop_event *buf)
{
	session_finish(s, buf); /* every thread of the old image is gone: skip what they left */
	struct shm_segment next;
	if (session_open_next(s, &next) != 0)
		return false;
	if (session_switch_image(s, &next) != 0)
		return false;
	/* read before the claim: the new image clears the flag as soon as it sees us */
	struct memtop_seg_header pre;
	bool waiting = shm_header_read(&s->seg, &pre) == 0 && (pre.flags & MEMTOP_FLAG_WAITING);
	pid_t holder = 0;
	if (shm_consumer_claim(&s->seg, &holder) != 0)
		return false;
	shm_consumer_heartbeat(&s->seg);
	/* what the new image allocated before our claim (late_attach.c), unless it was still waiting
	 * for us then (it waits only a moment) */
	session_live_load(s, waiting);
	__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
	return true;
}

/* The image that made our segment is gone (exec): its name goes, unless a newer image already
 * put a segment of its own under it. */
void session_unlink_image_segment(struct session *s)
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

bool session_exec_untraceable(struct session *s, uint64_t now)
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
