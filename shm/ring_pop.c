/* The consumer's half of the event ring (shm/ring.c has the design and the producers' half): pop
 * each lane's committed records in ticket order and publish its tail once per batch, release
 * barriers once every lane holds their copy, step past tickets nobody will commit, validate
 * records, and drop what was queued before an attach. Every read of the segment is guarded (a
 * file that shrinks under the mapping raises SIGBUS) and nothing read is trusted. */
#include <string.h>
#include <time.h>

#include "guard.h"
#include "internal.h"
#include "ring_lane.h"

enum lane_state {
	LANE_READ,    /* copied records; stopped because out is full or the next is not ready */
	LANE_EMPTY,   /* nothing ready at the tail (nothing reserved, or reserved and not committed) */
	LANE_PARKED,  /* at a barrier copy */
};

/* Publishes a lane's tail (release: our copies happen-before a producer's reuse of the cells). */
static void lane_advance(struct shm_segment *seg, uint32_t lane, uint64_t tail)
{
	seg->lane[lane].tail = tail;
	__atomic_store_n(&lane_ctl(seg, lane)->tail, tail, __ATOMIC_RELEASE);
}

/* Steps a parked lane past its barrier copy (released, stale, or given up). */
static void lane_unpark(struct shm_segment *seg, uint32_t lane)
{
	seg->lane[lane].parked = false;
	lane_advance(seg, lane, seg->lane[lane].tail + seg->lane[lane].park_span);
}

/* The timestamp of a record: its 32 bits of time units are the low bits of the one within 2^31
 * units (24 days) of now_units (the consumer's monotonic clock / MEMTOP_TIME_UNIT_NS, read once
 * per pop: a record may be a little newer than it, or older). */
static inline uint64_t record_time_ns(uint32_t time, uint64_t now_units)
{
	uint64_t units = now_units + (uint64_t)(int64_t)(int32_t)(time - (uint32_t)now_units);
	return units * MEMTOP_TIME_UNIT_NS;
}

/* The extension of the record of ticket tail into ev (record_decode). Returns 2, or 1 when it is
 * not committed or not an extension (only a damaged or hostile segment: a producer commits the
 * extension first): ev then becomes an unknown type (shm_event_check rejects it) that took 1
 * record, so that the lane never waits on it. */
static __attribute__((noinline)) uint32_t record_decode_ext(const struct shm_segment *seg,
							     uint32_t lane, uint64_t tail,
							     struct memtop_event *ev)
{
	const struct memtop_record_ext *cell =
		(const struct memtop_record_ext *)lane_cell(seg, lane, tail + 1);
	struct memtop_record_ext x;
	if (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != lane_seq(tail + 1)) {
		ev->type = MEMTOP_EV_NONE;
		return 1;
	}
	memcpy(&x, cell, sizeof x);
	if (x.type != MEMTOP_EV_EXT) {
		ev->type = MEMTOP_EV_NONE;
		return 1;
	}
	ev->size |= (uint64_t)x.size_hi << MEMTOP_SIZE_BITS;
	ev->aux = x.aux;
	ev->link = x.link;
	ev->usable = x.usable;
	return 2;
}

/* The event of the record r of ticket tail as far as that record holds it (aux and link 0: an
 * extension's words are record_decode_ext's). Returns the record's type | flags << 8, for the
 * caller's tests on locals. Every field is loaded once, before any store: a store to ev could
 * alias the cell (a byte field) and each field would be loaded again; a hostile writer changing
 * the cell meanwhile makes only an event that is wrong, which nothing trusts. */
static inline __attribute__((always_inline)) uint32_t
record_decode(const struct memtop_record *r, uint64_t tail, uint64_t now_units,
	      struct memtop_event *ev)
{
	uint8_t type = r->type, flags = r->flags;
	uint16_t thread_slot = r->thread_slot;
	uint32_t stack_id = r->stack_id, time = r->time;
	uint64_t addr = r->addr, size_usable = r->size_usable;
	uint64_t size = size_usable & ((1ull << MEMTOP_SIZE_BITS) - 1);
	ev->seq = tail + 1;
	ev->type = type;
	ev->flags = flags & (uint8_t)~MEMTOP_EVF_EXT;
	ev->thread_slot = thread_slot;
	ev->stack_id = stack_id;
	ev->timestamp_ns = record_time_ns(time, now_units);
	ev->addr = addr;
	ev->size = size;
	ev->usable = size + (size_usable >> MEMTOP_SIZE_BITS);
	ev->aux = 0;
	ev->link = 0;
	return type | (uint32_t)flags << 8;
}

/* Copies lane's ready events from its tail into out (at most room), skipping PAD records and
 * extensions whose record was skipped, and parks the lane at a barrier copy. Adds the count to
 * *got as it goes: a SIGBUS may cut us short. The usual record (one of its own, no barrier)
 * takes the short path. The decode costs instructions that a copy of whole-line records did not
 * (bench_engine's ring path, in cache: 35 instructions an event popped then, 66 now), and saves a
 * line fetched from the producer's core for every other record. */
static enum lane_state lane_pop(struct shm_segment *seg, uint32_t lane, struct memtop_event *out,
				size_t room, uint64_t now_units, volatile size_t *got)
{
	struct shm_lane_local *l = &seg->lane[lane];
	uint64_t tail = l->tail;
	size_t n = 0;
	enum lane_state st = LANE_READ;
	/* in locals: the byte stores into out could alias the segment's fields, which would be
	 * loaded again at every record */
	const struct memtop_record *cells = lane_cell(seg, lane, 0);
	const uint32_t cap = seg->lane_cap;
	/* At most one lap per call: a hostile writer could keep committing PAD records. */
	for (uint32_t scanned = 0; n < room && scanned < cap; scanned++) {
		const struct memtop_record *cell = &cells[tail & (cap - 1)];
		/* Ready when the producer of ticket tail committed: seq = lane_seq(tail) (a cell of
		 * an earlier lap holds lane_seq(tail - lane_cap), a never-used cell 0). */
		if (__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE) != lane_seq(tail)) {
			if (n == 0)
				st = LANE_EMPTY; /* or pending: pop_lanes asks only if nothing came */
			break;
		}
		uint32_t tf = record_decode(cell, tail, now_units, &out[n]);
		uint8_t type = (uint8_t)tf, flags = (uint8_t)(tf >> 8);
		if (__builtin_expect((flags & (MEMTOP_EVF_EXT | MEMTOP_EVF_BARRIER)) != 0 ||
				     type == MEMTOP_EV_PAD || type == MEMTOP_EV_EXT, 0)) {
			if (type == MEMTOP_EV_EXT) {
				tail++; /* its record was skipped (shm_ring_skip): nothing to apply */
				continue;
			}
			uint32_t span = flags & MEMTOP_EVF_EXT ? record_decode_ext(seg, lane, tail, &out[n])
							      : 1;
			if (flags & MEMTOP_EVF_BARRIER) {
				l->parked = true;
				l->barrier = out[n].link;
				l->park_span = span;
				st = LANE_PARKED;
				break;
			}
			tail += span;
			if (type == MEMTOP_EV_PAD)
				continue;
		} else {
			tail++;
		}
		n++;
		*got += 1;
	}
	if (tail != l->tail)
		lane_advance(seg, lane, tail);
	return st;
}

enum barrier_step { BARRIER_WAIT, BARRIER_STALE, BARRIER_RELEASED };

/* Steps the parked lanes past stale copies: copies of a barrier already released (a consumer died
 * while stepping every lane past it), and copies older than another lane's (barriers are in the
 * same order in every lane, so that lane is past it). Returns true when it stepped any. */
static bool barrier_skip_stale(struct shm_segment *seg)
{
	uint64_t released = __atomic_load_n(&seg->hdr->barrier_released, __ATOMIC_ACQUIRE);
	uint64_t newest = 0;
	bool stepped = false;
	for (uint32_t k = 0; k < seg->lanes; k++)
		if (seg->lane[k].parked && seg->lane[k].barrier > newest)
			newest = seg->lane[k].barrier;
	for (uint32_t k = 0; k < seg->lanes; k++) {
		struct shm_lane_local *l = &seg->lane[k];
		if (l->parked && (l->barrier <= released || l->barrier < newest)) {
			lane_unpark(seg, k);
			stepped = true;
		}
	}
	return stepped;
}

/* Every lane parked at the same barrier: it comes out once (into *out), and every lane steps past
 * its copy. The number is published first, so that a consumer that dies half-way through leaves
 * copies the next one knows to be stale. */
static enum barrier_step barrier_release(struct shm_segment *seg, struct memtop_event *out,
					 uint64_t now_units)
{
	if (barrier_skip_stale(seg))
		return BARRIER_STALE;
	uint64_t number = seg->lane[0].barrier;
	for (uint32_t k = 0; k < seg->lanes; k++)
		if (!seg->lane[k].parked || seg->lane[k].barrier != number)
			return BARRIER_WAIT;
	/* The copy is still in lane 0's cells: producers do not reuse them before the tail passes. */
	const struct memtop_record *copy = lane_cell(seg, 0, seg->lane[0].tail);
	if (record_decode(copy, seg->lane[0].tail, now_units, out) & MEMTOP_EVF_EXT << 8)
		record_decode_ext(seg, 0, seg->lane[0].tail, out);
	out->flags &= (uint8_t)~MEMTOP_EVF_BARRIER;
	out->link = 0;
	__atomic_store_n(&seg->hdr->barrier_released, number, __ATOMIC_RELEASE);
	for (uint32_t k = 0; k < seg->lanes; k++)
		lane_unpark(seg, k);
	return BARRIER_RELEASED;
}

/* True when some lane has a ticket reserved past its tail. Reads the producers' head lines, so
 * only when a pop found nothing, and with a pending check interval at most once per interval (the
 * heads read last answer in between): a head line the consumer reads must be fetched back by the
 * next producer's CAS. */
static bool lanes_pending(struct shm_segment *seg)
{
	bool fresh = true;
	if (seg->pending_check_ns) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		fresh = now - seg->heads_read_ns >= seg->pending_check_ns;
		if (fresh)
			seg->heads_read_ns = now;
	}
	if (fresh)
		seg->heads_reads++;
	bool pending = false;
	for (uint32_t k = 0; k < seg->lanes; k++) {
		struct shm_lane_local *l = &seg->lane[k];
		if (l->parked)
			continue;
		if (fresh)
			l->head_seen = __atomic_load_n(&lane_ctl(seg, k)->head, __ATOMIC_ACQUIRE);
		if (l->head_seen > l->tail)
			pending = true;
	}
	return pending;
}

void shm_ring_set_pending_check(struct shm_segment *seg, uint64_t interval_ns)
{
	seg->pending_check_ns = interval_ns;
	seg->heads_read_ns = 0; /* the next pop reads them */
}

/* The producers' clock (shm_consumer_clock): this pop's time while records come, 0 (each producer
 * reads its own) once a pop finds none: then the next record may come after a quiet time longer
 * than our naps, and its time must count that time to the tick. Stored only when it changes (about
 * once per tick while records come), so that the line every push reads seldom leaves the
 * producers' caches. Relaxed: a time, not a publication. Guarded by the caller. */
static void publish_clock(struct shm_segment *seg, uint64_t now)
{
	if (now != seg->clock_published) {
		__atomic_store_n(&seg->hdr->clock_ns, now, __ATOMIC_RELAXED);
		seg->clock_published = now;
	}
}

void shm_ring_clock_pause(struct shm_segment *seg)
{
	if (seg->clock_published == 0)
		return;
	SHM_GUARD_BEGIN {
		publish_clock(seg, 0);
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
}

static enum shm_pop_status pop_lanes(struct shm_segment *seg, struct memtop_event *out, size_t max,
				     volatile size_t *got)
{
	bool pending = false;
	uint32_t mask = seg->lanes - 1;
	/* the coarse clock, as the producers': the records' times need only its ms */
	uint64_t now = shm_now_ns(), now_units = now / MEMTOP_TIME_UNIT_NS;
	/* Fairness: each pop starts with the next lane, so a busy lane cannot fill every batch. */
	uint32_t first = seg->pop_first;
	seg->pop_first = (first + 1) & mask;
	for (int round = 0; round < 4 && *got < max; round++) {
		uint32_t parked = 0;
		pending = false;
		for (uint32_t i = 0; i < seg->lanes && *got < max; i++) {
			uint32_t k = (first + i) & mask;
			enum lane_state st = seg->lane[k].parked ? LANE_PARKED
								 : lane_pop(seg, k, out + *got,
									    max - *got, now_units, got);
			parked += st == LANE_PARKED;
		}
		if (parked == 0 || *got >= max)
			break;
		enum barrier_step b = barrier_release(seg, &out[*got], now_units);
		if (b == BARRIER_WAIT) {
			pending = true; /* a barrier in progress: its other copies are not committed */
			break;
		}
		if (b == BARRIER_RELEASED)
			*got += 1;
	}
	if (*got == 0 && !pending)
		pending = lanes_pending(seg);
	publish_clock(seg, *got ? now : 0);
	return pending ? SHM_POP_PENDING : SHM_POP_EMPTY;
}

enum shm_pop_status shm_ring_pop(struct shm_segment *seg, struct memtop_event *out, size_t max,
				 size_t *n)
{
	volatile size_t got = 0;
	volatile enum shm_pop_status st = SHM_POP_OK;
	SHM_GUARD_BEGIN {
		st = pop_lanes(seg, out, max, &got);
	} SHM_GUARD_FAIL {
		st = SHM_POP_BUS;
	} SHM_GUARD_END;
	*n = got;
	return got ? SHM_POP_OK : st;
}

/* A reserved ticket nobody will commit: step past it. With none, lanes parked at a barrier that
 * cannot complete (a copy was skipped, or the segment is damaged) let it go. */
static void skip_one(struct shm_segment *seg)
{
	for (uint32_t k = 0; k < seg->lanes; k++) {
		struct shm_lane_local *l = &seg->lane[k];
		if (l->parked)
			continue;
		uint64_t head = __atomic_load_n(&lane_ctl(seg, k)->head, __ATOMIC_ACQUIRE);
		if (head > l->tail &&
		    __atomic_load_n(&lane_cell(seg, k, l->tail)->seq, __ATOMIC_ACQUIRE) !=
			    lane_seq(l->tail)) {
			lane_advance(seg, k, l->tail + 1);
			return;
		}
	}
	for (uint32_t k = 0; k < seg->lanes; k++)
		if (seg->lane[k].parked)
			lane_unpark(seg, k);
}

void shm_ring_skip(struct shm_segment *seg)
{
	SHM_GUARD_BEGIN {
		skip_one(seg);
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
}

/* Steps lane k past the records below its attach ticket, waiting for each to be committed until
 * deadline. Guarded by the caller. Returns the records stepped over. */
static uint64_t lane_drop_old(struct shm_segment *seg, uint32_t k, uint64_t deadline)
{
	struct shm_lane_local *l = &seg->lane[k];
	uint64_t until = __atomic_load_n(&lane_ctl(seg, k)->attach_ticket, __ATOMIC_RELAXED);
	uint64_t tail = l->tail, dropped = 0;
	if (until < tail || until - tail > seg->lane_cap)
		return 0; /* impossible: leave the lane to the normal pop */
	while (tail < until) {
		if (__atomic_load_n(&lane_cell(seg, k, tail)->seq, __ATOMIC_ACQUIRE) != lane_seq(tail)) {
			if (shm_clock_ns(CLOCK_MONOTONIC) > deadline)
				break; /* a producer that never commits: the pop handles it as before */
			cpu_relax();
			continue;
		}
		tail++;
		dropped++;
	}
	if (tail != l->tail) {
		l->parked = false;
		lane_advance(seg, k, tail);
	}
	return dropped;
}

uint64_t shm_ring_drop_before_attach(struct shm_segment *seg, uint64_t wait_ns)
{
	volatile uint64_t dropped = 0;
	uint64_t deadline = shm_clock_ns(CLOCK_MONOTONIC) + wait_ns;
	SHM_GUARD_BEGIN {
		for (uint32_t k = 0; k < seg->lanes; k++)
			dropped += lane_drop_old(seg, k, deadline);
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
	return dropped;
}
