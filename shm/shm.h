/* shm: create, open, validate and use a memtop segment (/memtop.<pid>).
 * Linked into both sides. Each function says which side may call it: TARGET (the preload, inside
 * allocation hooks: must never call malloc/free and never wait unbounded; its one lock, for tags,
 * is given up after block_ms) or MONITOR (treats every byte of the segment as untrusted and reads
 * it under the SIGBUS guard). */
#ifndef MEMTOP_SHM_H
#define MEMTOP_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "memtop/segment.h"

/* Defaults and limits (also the accepted ranges of the MEMTOP_* variables). */
#define SHM_RING_DEFAULT (1u << 17) /* records: 4 MiB */
#define SHM_RING_MIN (1u << 6)
#define SHM_RING_MAX (1u << 24)
#define SHM_STACKS_DEFAULT (1u << 16)
#define SHM_STACKS_MIN (1u << 4)
#define SHM_STACKS_MAX (1u << 22)
#define SHM_THREADS_DEFAULT 1024u
#define SHM_TAGS_DEFAULT 256u
#define SHM_BLOCK_MS_DEFAULT 1000u
#define SHM_HEARTBEAT_STALE_NS (3ull * 1000000000ull)
#define SHM_LANE_MIN_CAP 16u     /* fewer lanes than asked when the ring is too small for them */
#define SHM_LANE_REGION_SHIFT 26 /* addresses in one 64 MiB region share a lane: glibc gives each
                                    arena heaps of 64 MiB, so threads on different arenas get
                                    different lanes */
#define SHM_LANE_MAP_SIZE 1024u  /* regions remembered per process (then a hash picks the lane) */

struct shm_config {
	uint32_t ring_cap;   /* rounded up to a power of two */
	uint32_t stacks_cap; /* stack ids; the frame arena holds stacks_cap * max_depth / 2 frames */
	uint32_t threads;
	uint32_t max_depth;
	uint32_t block_ms;
	uint32_t lanes;      /* 0: one per online CPU, at least 4; rounded up to a power of two */
	uint32_t live_mode;  /* MEMTOP_LIVE_OFF / _SAMPLED / _EXACT (shm/livetable.h) */
	uint64_t live_sample_bytes; /* sampled mode: mean bytes between samples */
	int32_t tree_root;   /* > 0: MEMTOP_FOLLOW's root pid, marked in the header before READY */
	bool waiting;        /* MEMTOP_FLAG_WAITING before READY: the creator waits for a consumer
				next, so a consumer that claims before its wait still knows it held the
				process at its start (the creator clears the flag after) */
};

/* Process-local state of one lane, on a line of its own. */
struct shm_lane_local {
	/* TARGET: cached lane tail + lane_cap, cells of lower tickets are free. Stored only when it
	 * moves: on a full lane every producer refreshes it on every attempt. */
	uint64_t free_below;
	int dropping; /* TARGET: a full-lane wait timed out; drop without waiting until space returns */
	bool parked;  /* MONITOR: stopped at a barrier copy until every lane reaches its copy */
	uint64_t barrier; /* MONITOR: the number of the barrier copy the lane is parked at */
	uint32_t park_span; /* MONITOR: the records of that copy (with its extension) */
	uint64_t tail; /* MONITOR: next ticket to consume */
	uint64_t head_seen; /* MONITOR: the lane's head at the last read of it (lazy pending check) */
	/* TARGET, MEMTOP_DEBUG builds: the highest free bound any thread of the process took a ticket
	 * under (free_below itself may step back when two refreshes race); commit checks against it. */
	uint64_t bound_seen;
} __attribute__((aligned(64)));

/* A mapped segment. base/size are the mapping; the region pointers are derived from the header at
 * create/open time after validation, so later reads never trust header offsets again. */
struct shm_segment {
	void *base;
	size_t size;        /* bytes mapped at base */
	uint64_t fixed_size; /* the fixed part (header segment_size); live table chunks follow it */
	int fd;
	pid_t pid;
	struct memtop_seg_header *hdr;
	struct memtop_thread_slot *threads;
	struct memtop_stack *stacks;
	uint32_t *stack_index;
	uint64_t *frames;
	struct memtop_record *ring;
	struct memtop_tag *tags;
	/* copies of the geometry taken at validation (never re-read from shared memory) */
	uint32_t threads_count, stacks_cap, stack_index_cap, frames_cap, ring_cap, tags_cap;
	uint32_t max_depth, block_ms, lanes, lane_cap;
	/* process-local state (never in shared memory) */
	uint64_t epoch;         /* this binding's number in the process (never 0): keys lane caches */
	uint32_t pop_first;     /* MONITOR: lane the next pop starts with (fairness) */
	uint64_t pending_check_ns; /* MONITOR: 0, or how old the heads read by a pop may be */
	uint64_t heads_read_ns;    /* MONITOR: when a pop last read the heads (CLOCK_MONOTONIC) */
	uint64_t heads_reads;      /* MONITOR: how many times pops read the heads (benchmarks) */
	uint64_t clock_published;  /* MONITOR: the clock_ns a pop last stored in the header */
	uint32_t lane_next;     /* TARGET: lane given to the next new address region (atomic) */
	int32_t barrier_lock;   /* TARGET: tid of the thread pushing a barrier, 0 = none: one barrier
				   at a time, so every lane holds the copies in one order */
	uint64_t barrier_seq;   /* TARGET: number of the last barrier, under barrier_lock */
	uint64_t lane_map[SHM_LANE_MAP_SIZE]; /* TARGET: region << 5 | (lane + 1), 0 = empty (atomic) */
	struct shm_lane_local lane[MEMTOP_LANES_MAX];
	/* The live table's chunks as mapped in this process (shm/livetable.c): TARGET its own
	 * chunks, published by live_n (atomic release); MONITOR the chunks validated and mapped
	 * so far (read-only mappings). */
	struct memtop_live_entry *live[MEMTOP_LIVE_CHUNKS_MAX];
	uint32_t live_cap[MEMTOP_LIVE_CHUNKS_MAX];
	uint32_t live_n;
	uint32_t live_mode; /* copy taken at creation or open */
	/* TARGET: the stack entries and frames below these indexes are backed in /dev/shm (atomic,
	 * only grow): with MEMTOP_FLAG_STACKS_LAZY the interning threads back the rest as they reach
	 * it (shm/stacks.c), else all of it is backed before any stack is interned (the caps) */
	uint32_t stacks_backed, frames_backed;
};

void shm_config_defaults(struct shm_config *cfg);
/* Segment name for a pid: "/memtop.<pid>". Names are built only from numeric pids. */
void shm_segment_name(pid_t pid, char *buf, size_t len);

/* ---- TARGET side ---- */

/* Create /memtop.<pid> exclusively (mode 0600), size it, reserve its pages (posix_fallocate, so a
 * full /dev/shm fails here, not as a SIGBUS later), map and initialise it. Returns 0 or -errno and
 * a one-line reason in err. Not async-signal-safe; call from the constructor or after fork. */
int shm_segment_create(struct shm_segment *seg, const struct shm_config *cfg, pid_t pid,
		       char *err, size_t errlen);
/* After exec (create returned -EEXIST: our own pre-exec segment holds the name): marks that segment
 * MEMTOP_FLAG_EXECED and unlinks it. Returns true when a live consumer held it (the new image should
 * then wait briefly for that consumer to follow). */
bool shm_segment_retire_exec(pid_t pid);
/* Unmap (and with unlink, remove the name). Either side. */
void shm_segment_close(struct shm_segment *seg, bool unlink_name);

/* Thread slots. claim returns the slot index (the overflow slot when the table is full). */
uint16_t shm_thread_claim(struct shm_segment *seg, int32_t tid, const char *name);
void shm_thread_release(struct shm_segment *seg, uint16_t slot);
void shm_thread_set_name(struct shm_segment *seg, uint16_t slot, const char *name);
bool shm_thread_is_overflow(const struct shm_segment *seg, uint16_t slot);

/* Interns a call stack; returns its id, MEMTOP_STACK_OVERFLOW when the table is full, or
 * MEMTOP_STACK_NONE for depth 0. Lock-free: CAS on the index slot, append-only arenas. */
uint32_t shm_stack_intern(struct shm_segment *seg, const uint64_t *frames, uint32_t depth);
/* TARGET: the same through a per-thread memo of stacks interned lately (direct-mapped by hash,
 * 1 << memo_log2 entries, zeroed memory to start): a hit costs the compare with the stack's
 * frames in the segment instead of the index probe and the stack entry (three dependent misses
 * on a table of 25 k stacks). Entries carry the segment's pid, so a fork child's new segment never
 * takes its parent's ids. One thread uses a memo at a time, and never re-entered. */
struct shm_stack_memo {
	uint64_t hash;
	uint32_t id, frames_off, depth;
	int32_t pid;
};
uint32_t shm_stack_intern_memo(struct shm_segment *seg, const uint64_t *frames, uint32_t depth,
			       struct shm_stack_memo *memo, unsigned memo_log2);

/* Registers a tag name; returns its id (index + 1) or 0 when the table is full. */
uint32_t shm_tag_register(struct shm_segment *seg, const char *name, uint64_t now_ns);

/* True when a consumer holds the claim (one load: the "no consumer, no events" fast path). */
static inline bool shm_consumer_present(const struct shm_segment *seg)
{
	/* Acquire pairs with the claim's release: a producer that sees the pid also sees the ring
	 * initialised. A negative pid is a monitor still preparing the ring: not present yet.
	 * seq_cst (the same instruction as acquire on x86-64 and arm64): ordered after the hook's
	 * seq_cst live table write, for the late-attach handover (monitor/session/late_attach.c). */
	return __atomic_load_n(&seg->hdr->claim_pid, __ATOMIC_SEQ_CST) > 0;
}
/* True when the claimant's pid exists and its heartbeat is fresh. Slow: only on a full lane. */
bool shm_consumer_alive(const struct shm_segment *seg);

/* The calling thread's recent regions and their lanes, direct-mapped by the low bits of the region
 * number: a program whose frees alternate between its heap and its mapped blocks (python) would
 * miss a one-entry cache on most calls. Initial-exec TLS: no allocation on first use (we run
 * inside malloc). */
#define SHM_LANE_CACHE 8
#define SHM_LANE_CACHE_SHIFT 5 /* an entry is (region + 1) << 5 | lane: lanes are below 32 */
struct shm_lane_cache {
	uint64_t epoch;                   /* the segment binding the entries are for (0: none) */
	/* One word per entry, written in one store: a signal handler that runs on this thread in the
	 * middle of an update never pairs a region with another region's lane. 0 = empty. */
	uint64_t entry[SHM_LANE_CACHE];
};
extern __thread struct shm_lane_cache shm_lane_cache_tls __attribute__((tls_model("initial-exec")));
uint32_t shm_lane_of_slow(struct shm_segment *seg, uint64_t region);

/* The lane of an address: every event about one address goes to one lane (invariant 1). Regions
 * get lanes round-robin on first use, remembered process-wide (shm/lanes.c). */
static inline uint32_t shm_lane_of(struct shm_segment *seg, uint64_t addr)
{
	uint64_t region = addr >> SHM_LANE_REGION_SHIFT;
	struct shm_lane_cache *c = &shm_lane_cache_tls;
	unsigned i = (unsigned)region & (SHM_LANE_CACHE - 1);
	uint64_t e = __atomic_load_n(&c->entry[i], __ATOMIC_RELAXED);
	if (__builtin_expect(c->epoch == seg->epoch && e >> SHM_LANE_CACHE_SHIFT == region + 1, 1))
		return (uint32_t)e & ((1u << SHM_LANE_CACHE_SHIFT) - 1);
	return shm_lane_of_slow(seg, region);
}

/* The lane an event goes to: that of its address (for REALLOC_END the new block, or the old one
 * when there is no new block); events without an address use their thread slot's lane. */
static inline uint32_t shm_event_lane(struct shm_segment *seg, const struct memtop_event *ev)
{
	switch (ev->type) {
	case MEMTOP_EV_MALLOC:
	case MEMTOP_EV_CALLOC:
	case MEMTOP_EV_MEMALIGN:
	case MEMTOP_EV_FREE:
	case MEMTOP_EV_REALLOC_BEGIN:
		return shm_lane_of(seg, ev->addr);
	case MEMTOP_EV_REALLOC_END:
		return shm_lane_of(seg, ev->addr ? ev->addr : ev->aux);
	default:
		return ev->thread_slot & (seg->lanes - 1);
	}
}

enum shm_push_result { SHM_PUSHED = 0, SHM_DROPPED = 1, SHM_NO_CONSUMER = 2 };
/* Multi-producer push into the event's lane. ev->seq is ignored. When the lane is full, waits with
 * backoff up to block_ms while the consumer is alive, then drops (the caller counts the drop).
 * A TAG is a barrier: a copy goes to every lane, and the consumer applies it once, after every
 * record that was in any lane before it (so a tag separates what happened before and after). */
enum shm_push_result shm_ring_push(struct shm_segment *seg, const struct memtop_event *ev);
/* The same, where `alone` says that no other thread or process can push into seg until this call
 * returns (the preload: a process with one thread, its fork children on their own segments): on
 * x86-64 the ticket is then taken without a locked instruction. A signal handler on this thread may
 * still push in the middle of the call: that stays safe. */
enum shm_push_result shm_ring_push_as(struct shm_segment *seg, const struct memtop_event *ev,
				      bool alone);

/* The two halves of shm_ring_push: reserve takes the two tickets of an event with its extension
 * record in a lane (false when it could not), commit publishes the event in them (and a PAD record
 * in the second when the event needs no extension). TEST-ONLY outside shm/: tests and the fuzz
 * seed use them to hold tickets pending. Production frees need no split: the free hook pushes its
 * whole record with shm_ring_push before the real free (invariant 1). */
bool shm_ring_reserve(struct shm_segment *seg, uint32_t lane, uint64_t *ticket);
void shm_ring_commit(struct shm_segment *seg, uint32_t lane, uint64_t ticket,
		     const struct memtop_event *ev);

/* ---- MONITOR side ---- */

/* Checks a mapped segment image. Pure: reads only [base, base+size). Returns 0 or -EINVAL with a
 * one-line reason naming the bad field. Used by shm_segment_open and by the fuzzer. */
int shm_segment_validate(const void *base, size_t size, char *err, size_t errlen);
/* The same checks on a header (a copy) of a segment of size bytes. */
int shm_header_validate(const struct memtop_seg_header *h, size_t size, char *err, size_t errlen);

/* Opens /memtop.<pid> read-write without following links, refuses non-regular files, files of
 * another uid (unless allow_other_uid) and invalid images. Returns 0 or -errno with a reason. */
int shm_segment_open(struct shm_segment *seg, pid_t pid, bool allow_other_uid, char *err,
		     size_t errlen);

/* Claim the consumer role. -EBUSY (with the holder's pid in *holder) when a live monitor has it;
 * a dead or stale claimant is replaced. The first claim of a segment backs its stack and ring
 * regions in /dev/shm: -ENOSPC when /dev/shm is full (the claim is then not taken). Guarded, and
 * each claim field is read once: -EIO when the file was truncated under the mapping. */
int shm_consumer_claim(struct shm_segment *seg, pid_t *holder);
/* Bytes from the stack table to the end, from the geometry validated at open: what the first claim
 * backs, less the stack entries and frames of a MEMTOP_FLAG_STACKS_LAZY target. */
static inline uint64_t shm_segment_claim_bytes(const struct shm_segment *seg)
{
	return (uint64_t)((const char *)seg->base + seg->fixed_size - (const char *)seg->stacks);
}
/* Refreshes the heartbeat and publishes the consumer's tail. -1 when the segment faulted (SIGBUS). */
int shm_consumer_heartbeat(struct shm_segment *seg);
void shm_consumer_release(struct shm_segment *seg);

enum shm_pop_status {
	SHM_POP_OK = 0,        /* n records copied */
	SHM_POP_EMPTY = 1,     /* nothing published yet */
	SHM_POP_PENDING = 2,   /* next ticket reserved by a producer but not yet committed */
	SHM_POP_BUS = 3,       /* SIGBUS: the segment was truncated under us */
};
/* Copies up to max ready events into out (a record, with its extension record when it has one),
 * each lane in ticket order (so each address in causal order), and frees their cells. Barrier
 * copies come out once, when every lane has reached its copy. Guarded against SIGBUS. *n gets the
 * count. Events are NOT validated here: call shm_event_check. */
enum shm_pop_status shm_ring_pop(struct shm_segment *seg, struct memtop_event *out, size_t max,
				 size_t *n);
/* The producers read their own clock until the next pop that finds records (shm_consumer_clock):
 * for a consumer about to spend longer than a nap away from its pops. */
void shm_ring_clock_pause(struct shm_segment *seg);
/* A pop that finds nothing ready reads every lane's head to tell PENDING from EMPTY. Each read
 * takes the head's line from the producer that owns it, whose next ticket must fetch it back: a
 * consumer that polls an idle ring as fast as it can costs a producer that transfer on each poll
 * (bench_ring, same build, 3 runs each at load 2.7: 0.17-1.08 -> 0.03-0.18 head reads per 1000
 * events with a 50 us interval; the producers' time moved less than the load's noise). With
 * interval_ns > 0,
 * pops read the heads at most once per interval_ns and answer from the heads read last in between:
 * PENDING then means a ticket was seen reserved, EMPTY that none was as of up to interval_ns ago.
 * For a consumer that polls while producers run. 0 (the default) reads them on every such pop:
 * set it back to 0 before draining a process that is gone, where EMPTY must be exact (a ticket
 * reserved by a thread killed just after our last read must come out as PENDING, to be skipped). */
void shm_ring_set_pending_check(struct shm_segment *seg, uint64_t interval_ns);
/* When a consumer pops again while its producers run (shm/ring_pace.c): a nap after a short batch
 * that grows until a round brings a useful batch, and a backoff while the ring stays empty. */
struct shm_pace {
	unsigned nap_us, idle_us;
	size_t round_events; /* taken since the last nap */
};
void shm_pace_init(struct shm_pace *p);
/* After a pop of at most max records that took n (status st): microseconds to sleep before the next
 * pop, 0 to pop again at once. */
unsigned shm_pace_after_pop(struct shm_pace *p, const struct shm_segment *seg, size_t n, size_t max,
			    enum shm_pop_status st);
/* Skips one pending ticket whose producer never committed (or, with none, releases lanes parked at
 * a barrier that cannot complete). Only once the target process is gone (a live producer may
 * still commit it, and skipping then would wedge that cell). */
void shm_ring_skip(struct shm_segment *seg);

/* Steps every lane past the records a previous consumer left unread (tickets below the heads at
 * our claim), waiting up to wait_ns in all for producers still committing them. For a monitor that
 * seeds its model from the live table, which already holds their effect. Returns how many. */
uint64_t shm_ring_drop_before_attach(struct shm_segment *seg, uint64_t wait_ns);

/* Validates a popped event against the segment geometry. Returns NULL or a reason. Inline: the
 * ingest calls it for every event. */
static inline const char *shm_event_check(const struct shm_segment *seg,
					  const struct memtop_event *ev)
{
	if (ev->type == MEMTOP_EV_NONE || ev->type == MEMTOP_EV_PAD || ev->type >= MEMTOP_EV_TYPE_MAX)
		return "unknown event type";
	if (ev->thread_slot >= seg->threads_count)
		return "thread slot out of range";
	if (ev->stack_id != MEMTOP_STACK_NONE && ev->stack_id != MEMTOP_STACK_OVERFLOW &&
	    ev->stack_id != MEMTOP_STACK_SIGNAL && ev->stack_id >= seg->stacks_cap)
		return "stack id out of range";
	if (ev->type == MEMTOP_EV_TAG && (ev->aux == 0 || ev->aux > seg->tags_cap))
		return "tag id out of range";
	return NULL;
}

/* Copies stack `id`'s frames (bounds-checked, guarded). Returns depth, or -1 for a bad id. */
int shm_stack_read(struct shm_segment *seg, uint32_t id, uint64_t *frames, uint32_t max);
/* Copies thread slot idx (guarded). Returns 0, or -1 on a bad index or SIGBUS. */
int shm_thread_read(struct shm_segment *seg, uint32_t idx, struct memtop_thread_slot *out);
/* Sum of every slot's counters: the exact process totals. Returns 0 or -1 on SIGBUS. */
int shm_totals(struct shm_segment *seg, struct memtop_counters *out);
/* Copies the header (guarded). Returns 0 or -1 on SIGBUS. */
int shm_header_read(struct shm_segment *seg, struct memtop_seg_header *out);
/* Copies tag id (1-based). Returns 0, or -1 when not ready or out of range. */
int shm_tag_read(struct shm_segment *seg, uint32_t id, struct memtop_tag *out);

/* Reads field 22 (start time) of /proc/<pid>/stat; 0 when the process does not exist. */
uint64_t shm_proc_start_time(pid_t pid);
/* State letter (R, S, Z...) and start time of a process; false when it does not exist. */
bool shm_proc_stat(pid_t pid, char *state, uint64_t *start_time);

/* The tree follower's doorbell (shm/follow.c): the abstract unix socket address the memtop with pid
 * monitor, following the tree of root, binds; and the ring a new process of that tree sends there
 * once its segment exists (best effort, errno kept). */
struct sockaddr_un;
int shm_follow_address(struct sockaddr_un *a, uint32_t monitor, uint32_t root);
void shm_follow_ring(uint32_t monitor, uint32_t root);
/* Stale: the pid is gone, or it is a different process (start time differs). */
bool shm_segment_is_stale(const struct memtop_seg_header *hdr);

/* Clock `id` (CLOCK_MONOTONIC, CLOCK_REALTIME...) in ns: the one such conversion of both sides. */
static inline uint64_t shm_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Monotonic clock in ns (CLOCK_MONOTONIC_COARSE: ~7 ns; ages need ms precision only). */
static inline uint64_t shm_now_ns(void)
{
	return shm_clock_ns(CLOCK_MONOTONIC_COARSE);
}

/* The time a producer stamps its record with: the consumer's coarse clock as its last pop stored
 * it while records come (one round of the consumer old: its nap, under 1 ms while records come
 * (shm/ring_pace.c), and the round's work), else (0: its last pop found the ring empty, or it has
 * not popped since its claim, or it is publishing a view) the producer's own. A record's time is
 * in ms and the coarse clock ticks every few (4 ms at HZ=250); one load from the line
 * shm_consumer_present just read replaces a clock call per event (5-7 ns). After a quiet time the
 * first records read the clock themselves, so that a program's sleep shows whole in their times.
 * The price: a consumer stopped between two pops that found records (a dashboard suspended with
 * ^Z, a monitor killed) leaves its last time published, and records pushed meanwhile carry it
 * (a late monitor that loads the live table drops such records: session/late_attach.c). Read
 * only after shm_consumer_present. */
static inline uint64_t shm_consumer_clock(const struct shm_segment *seg)
{
	/* relaxed: any value stored since the claim is a time of the consumer's clock */
	uint64_t t = __atomic_load_n(&seg->hdr->clock_ns, __ATOMIC_RELAXED);
	return __builtin_expect(t != 0, 1) ? t : shm_now_ns();
}

#endif
