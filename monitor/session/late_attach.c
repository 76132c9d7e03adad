/* late_attach: a monitor that attaches to a process already running starts from the live table the
 * target keeps in its segment (MEMTOP_LIVE), then the ring takes over; a second monitor (the claim
 * is held) reads the table alone, again and again, taking nothing from the first. Runs on the
 * ingest thread (the engine's only writer); trusts nothing it reads from the table.
 *
 * The handover invariant (no gap, no double count). The target, in every hook:
 *   allocation: real call; table insert (seq_cst CAS); claim load (seq_cst); event if claimed.
 *   free:       table remove (seq_cst CAS); claim load (seq_cst); FREE event if claimed, flagged
 *               TABLED when the block was in the table; real free.
 * The monitor: claim store; seq_cst fence; table read (shm_live_scan); then the ring.
 * By the seq_cst order, for every hook either its claim load sees our claim (its event is in the
 * ring) or our table read sees its table write (or both). So:
 *   - a block allocated before the claim whose event is not in the ring is in the table: loaded;
 *   - a block both loaded and in the ring (its allocation raced the claim) is replaced by its
 *     ALLOC event without a duplicate count (engine_put: LIVESET_F_TABLE);
 *   - a block freed before the claim without an event is gone from the table: never loaded;
 *   - a FREE in the ring of a block the load did not see carries TABLED: the target took it out
 *     of its table after our claim, so it is counted as handed over, not as an unknown free.
 * A table entry being written when read is waited for (bounded); what stays unreadable is counted. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "livetable.h"
#include "session/session_internal.h"

static void late_seed_batch(void *ctx, const struct shm_live_block *b, size_t n)
{
	struct session *s = ctx;
	for (size_t i = 0; i < n; i++) {
		uint16_t flags = 0;
		if (b[i].flags & MEMTOP_LIVEF_REALLOC)
			flags |= LIVESET_F_REALLOC;
		if ((b[i].flags & MEMTOP_LIVEF_SAMPLED) && s->eng.sample_mean)
			flags |= LIVESET_F_SAMPLED;
		engine_seed(&s->eng, b[i].addr, b[i].size, b[i].stack_id, b[i].thread_slot,
			    b[i].time_ns, flags);
	}
}

/* The table's mode and sampling mean, read once and checked. */
static void late_read_mode(struct session *s)
{
	struct memtop_seg_header h;
	s->live_mode = MEMTOP_LIVE_OFF;
	if (shm_header_read(&s->seg, &h) != 0)
		return;
	if (h.live_mode == MEMTOP_LIVE_EXACT ||
	    (h.live_mode == MEMTOP_LIVE_SAMPLED && h.live_sample_bytes >= 1 &&
	     h.live_sample_bytes <= (1ull << 30)))
		s->live_mode = h.live_mode;
	/* atomic: walks on other threads read it (model_walk_open) */
	__atomic_store_n(&s->eng.sample_mean,
			 s->live_mode == MEMTOP_LIVE_SAMPLED ? h.live_sample_bytes : 0, __ATOMIC_RELAXED);
	s->live_overflow = h.live_overflow;
}

void session_live_load(struct session *s, bool held_at_start)
{
	late_read_mode(s);
	/* A target held at its start for us (MEMTOP_WAIT, a followed tree) allocated nothing before
	 * our claim: every block comes through the ring. A table entry read now could only be one
	 * whose ALLOC is on its way, and seeding it (a sampled block, weighted: 11 blocks for one of
	 * 50,000 B) before the ALLOC replaces it inflated the peak and the timeline meanwhile. */
	if (s->live_mode == MEMTOP_LIVE_OFF || held_at_start)
		return;
	struct shm_live_stats st;
	memset(&st, 0, sizeof st);
	if (shm_live_map(&s->seg, &st) != 0) {
		s->live_unreadable = true;
		return;
	}
	/* Records a previous monitor left in the ring predate our claim: the table holds their
	 * effect, and replaying them over it would revive freed blocks. */
	if (s->claimed)
		s->live_stale_dropped = shm_ring_drop_before_attach(&s->seg, 100ull * 1000000ull);
	urcu_memb_read_lock();
	int rc = shm_live_scan(&s->seg, late_seed_batch, s, &st);
	urcu_memb_read_unlock();
	engine_batch_end(&s->eng);
	s->live_busy = st.busy + st.bad;
	s->live_unreadable = rc != 0 || st.bad_chunks;
}

/* A reader without the claim: the model is the table, reloaded at each publish. Its frees and
 * allocations since the last load are not events here; counts come from the target's counters. */
void session_reader_reload(struct session *s)
{
	if (engine_reset(&s->eng, s->seg.threads_count, s->seg.stacks_cap) != 0)
		return;
	s->eng.slot_info = session_slot_info;
	s->eng.slot_info_ctx = s;
	memset(s->slot_generation, 0, sizeof(uint32_t) * (s->seg.threads_count ? s->seg.threads_count : 1));
	session_live_load(s, false);
}

const char *session_live_mode_name(uint32_t mode)
{
	return mode == MEMTOP_LIVE_EXACT ? "exact" : mode == MEMTOP_LIVE_SAMPLED ? "sampled" : "off";
}

/* The reader's ingest loop: reload and publish every publish interval (or on request) until
 * asked to stop or the target is gone. Returns true when the target is gone. Never writes the
 * segment: the claimant heartbeats, drains and unlinks it. */
bool session_reader_loop(struct session *s)
{
	uint64_t last_pub = 0, interval = (uint64_t)s->opt.publish_ms * 1000000ull;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		session_adopt_symbols(s);
		if (now - last_pub >= interval ||
		    __atomic_exchange_n(&s->publish_request, 0, __ATOMIC_ACQ_REL)) {
			session_reader_reload(s);
			session_publish_view(s, now);
			last_pub = now;
			/* a reload reads the whole table (a second at millions of blocks): the next one
			 * waits 4 times as long, so a reader takes at most a fifth of a core */
			uint64_t took = shm_clock_ns(CLOCK_MONOTONIC) - now;
			interval = (uint64_t)s->opt.publish_ms * 1000000ull;
			if (interval < 4 * took)
				interval = 4 * took;
			/* each load is a complete state: session_wait_drained counts it as drained */
			__atomic_add_fetch(&s->empty_polls, 1, __ATOMIC_RELEASE);
		}
		if (session_target_gone(s))
			return true;
		usleep(5000);
	}
	return false;
}
