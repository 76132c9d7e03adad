/* notices: what the user is told on stderr, once each, when a session's figures stopped before
 * the target did or never started (truncated or damaged segment, exec not followed, another malloc
 * bound, exit unseen). Reads only atomics and the published view. */
#include <stdio.h>

#include <urcu/urcu-memb.h>

#include "session/session_internal.h"

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
