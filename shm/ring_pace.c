/* ring_pace: when a consumer pops the ring again. Every record crosses from a producer's cache to
 * the consumer's; a consumer that pops again as soon as a pop returns reads the cell a producer is
 * about to write, and that producer must then take the line back: with 1 producer thread, 36 to
 * 38 ns per event against 16 to 21 paced and 11 to 12 with no consumer running (bench_ring, five
 * runs). Napping until a batch has gathered makes each line cross once; and every wake-up is a
 * context switch that, on a machine with as many busy threads as cores, preempts the target
 * (python3 under report: 25 k preemptions in a 7 s run with a fixed 50 us nap). The monitor's
 * ingest loop and bench_ring both pace with this, so that the benchmark measures what a target
 * pays under memtop. */
#include "shm.h"

#define PACE_NAP_MIN_US 50
#define PACE_NAP_MAX_US 1000
#define PACE_IDLE_MAX_US 2000 /* a 64 k ring holds 2 ms at 30 M events/s */
#define PACE_PENDING_US 50

void shm_pace_init(struct shm_pace *p)
{
	p->nap_us = PACE_NAP_MIN_US;
	p->idle_us = PACE_NAP_MIN_US;
	p->round_events = 0;
}

/* A pop drained the ring: the nap doubles while a round brings less than an eighth of a lane and
 * halves when it brings more than a quarter, so a lane (16 k records by default) is never close to
 * full when we come back: its producers would wait on it. */
static unsigned pace_drained(struct shm_pace *p, uint32_t lane_cap)
{
	size_t low = lane_cap / 8, high = lane_cap / 4;
	if (p->round_events < low && p->nap_us < PACE_NAP_MAX_US)
		p->nap_us *= 2;
	else if (p->round_events > high && p->nap_us > PACE_NAP_MIN_US)
		p->nap_us /= 2;
	if (p->nap_us > PACE_NAP_MAX_US)
		p->nap_us = PACE_NAP_MAX_US;
	if (p->nap_us < PACE_NAP_MIN_US)
		p->nap_us = PACE_NAP_MIN_US;
	p->round_events = 0;
	return p->nap_us;
}

unsigned shm_pace_after_pop(struct shm_pace *p, const struct shm_segment *seg, size_t n, size_t max,
			    enum shm_pop_status st)
{
	if (n) {
		p->idle_us = PACE_NAP_MIN_US;
		p->round_events += n;
		/* a short batch: the ring is drained and the producers are running */
		return n < max / 4 ? pace_drained(p, seg->lane_cap) : 0;
	}
	if (st == SHM_POP_PENDING)
		return PACE_PENDING_US; /* a producer is between its ticket and its commit */
	/* an idle target costs few wake-ups */
	unsigned nap = p->idle_us;
	if (p->idle_us < PACE_IDLE_MAX_US)
		p->idle_us *= 2;
	return nap;
}
