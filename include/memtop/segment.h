/* memtop segment ABI: the byte layout of /memtop.<pid> shared by the preload (producer) and the
 * monitor (consumer). Plain fixed-width types only; no pointers are ever stored in the segment.
 * Must never change layout without bumping MEMTOP_ABI_VERSION. */
#ifndef MEMTOP_SEGMENT_H
#define MEMTOP_SEGMENT_H

#include <stdint.h>

#define MEMTOP_SEG_MAGIC 0x31474553504f544dULL /* "MTOPSEG1" little endian */
#define MEMTOP_ABI_VERSION 6u
#define MEMTOP_EXE_MAX 256
#define MEMTOP_THREAD_NAME_MAX 16
#define MEMTOP_MAX_DEPTH 64
#define MEMTOP_LANES_MAX 16 /* the ring is split in 1..16 lanes (a power of two) */
#define MEMTOP_LIVE_CHUNKS_MAX 24 /* the live table grows by chunks, each twice the previous */

/* Stack ids: 0 = no stack; MEMTOP_STACK_OVERFLOW = the table was full; MEMTOP_STACK_SIGNAL = the
 * call was made in a signal handler that interrupted the preload while it unwound for another call
 * of the same thread (the nested call's stack is not taken: the unwinder is not reentrant). The
 * monitor shows it as one frame, "<in signal handler>". No reserved id ever indexes the table. */
#define MEMTOP_STACK_NONE 0u
#define MEMTOP_STACK_OVERFLOW 0xffffffffu
#define MEMTOP_STACK_SIGNAL 0xfffffffeu

/* Header flags. */
#define MEMTOP_FLAG_READY (1u << 0)  /* regions initialised, safe to read */
#define MEMTOP_FLAG_EXITED (1u << 1) /* target ran its exit path; exit_status is valid */
#define MEMTOP_FLAG_WAITING (1u << 2) /* target is blocked at start waiting for a consumer */
#define MEMTOP_FLAG_EXECED (1u << 3)  /* the target exec'd: a new segment under the same name replaces
                                        this one; a consumer drains this one, then follows */
#define MEMTOP_FLAG_RESERVED (1u << 4) /* the first consumer backed the stack and ring regions in
                                          /dev/shm and initialised the ring (shm_consumer_claim) */
#define MEMTOP_FLAG_NOT_BOUND (1u << 5) /* the process binds another malloc than libmemtop's (an
                                           allocator preloaded before it): nothing is recorded */
#define MEMTOP_FLAG_INJECTED (1u << 6) /* loaded into the running process by `memtop inject` at
                                          created_realtime_ns: blocks allocated before are unknown */
#define MEMTOP_FLAG_TREE (1u << 7) /* started under MEMTOP_FOLLOW: a process of the tree whose root is
                                      tree_root, followed by the memtop report/run that started it
                                      (a claim, not a proof: the monitor checks /proc too) */
#define MEMTOP_FLAG_STACKS_LAZY (1u << 8) /* the target backs its stack entries and frame arena in
                                             /dev/shm itself, step by step as stacks fill them
                                             (shm/stacks.c): neither its start nor the first claim
                                             backs them (the stack index and the ring, they do) */

/* Event types. */
enum memtop_event_type {
	MEMTOP_EV_NONE = 0,
	MEMTOP_EV_MALLOC = 1,   /* addr, size; aux = 0 */
	MEMTOP_EV_CALLOC = 2,   /* addr, size = nmemb*size */
	MEMTOP_EV_MEMALIGN = 3, /* posix_memalign/aligned_alloc/memalign/valloc/pvalloc; aux = alignment */
	MEMTOP_EV_FREE = 4,     /* addr */
	MEMTOP_EV_REALLOC_BEGIN = 5, /* addr = old block; ticket taken before the real call (invariant 1) */
	MEMTOP_EV_REALLOC_END = 6,   /* addr = new block (0 on failure), size, aux = old block */
	MEMTOP_EV_TAG = 7,      /* aux = tag id; name in tag table (addr = 0) */
	MEMTOP_EV_THREAD_NAME = 8, /* thread slot renamed; read the name from the slot */
	MEMTOP_EV_MAPS_CHANGED = 9, /* dlopen/dlclose seen: symbol cache must refresh */
	MEMTOP_EV_PAD = 10,     /* a reserved ticket that carries nothing (a barrier that was dropped) */
	MEMTOP_EV_TYPE_MAX,
	MEMTOP_EV_EXT = 0x7f    /* ring only: the extension record of the record one ticket before */
};

/* Event flags. */
#define MEMTOP_EVF_FAILED (1u << 0) /* the call returned failure (NULL / error) */
#define MEMTOP_EVF_SPLIT (1u << 1)  /* REALLOC_END in another lane than its pushed REALLOC_BEGIN:
                                       the consumer may see the END first */
#define MEMTOP_EVF_BARRIER (1u << 2) /* one of the copies of an event pushed in every lane (a tag):
                                        the consumer applies it once every lane reaches its copy */
#define MEMTOP_EVF_TABLED (1u << 3)  /* FREE / REALLOC_BEGIN / REALLOC_END: the freed (old) block was
                                        in the live table when the target removed it (a monitor
                                        that loaded the table without it saw its removal: not an
                                        unknown free) */

/* MEMTOP_EVF_EXT (ring records only, never in an event): the record's extension is in the next
 * ticket of its lane. */
#define MEMTOP_EVF_EXT (1u << 7)

/* One event, as the producers hand it to the ring and the consumer gets it back (shm_ring_push,
 * shm_ring_pop). In the ring it is one or two records (struct memtop_record). */
struct memtop_event {
	uint64_t seq;          /* atomic */
	uint8_t type;          /* enum memtop_event_type */
	uint8_t flags;         /* MEMTOP_EVF_* */
	uint16_t thread_slot;  /* index into the thread table */
	uint32_t stack_id;     /* interned stack, or MEMTOP_STACK_NONE, _OVERFLOW, _SIGNAL */
	uint64_t timestamp_ns; /* CLOCK_MONOTONIC(_COARSE) nanoseconds */
	uint64_t addr;
	uint64_t size;         /* requested size */
	uint64_t aux;          /* old address, alignment or tag id */
	uint64_t usable;       /* usable size where known, else 0 */
	uint64_t link;         /* REALLOC_BEGIN/END: the thread's realloc number (pairs them);
	                          barrier copies: the barrier's number; else 0 */
};

/* One ring record: half a cache line, two to a line, so that half as many lines cross from the
 * producers' caches to the consumer's as with one event a line (python3 churn under report: the
 * target's CPU fell by 6 to 7 %). An event is one record when its aux and link are 0 and its
 * usable size is its size plus less than 0xffff; else a second record follows it in the next ticket
 * of the lane (type MEMTOP_EV_EXT, struct memtop_record_ext), taken with it and committed before
 * it. seq is the cell's sequence number: the producer of ticket pos of a lane stores
 * (pos + 1) mod 2^32 once the record is written; anything else means "not ready for pos". A cell is
 * free for ticket pos when pos < lane tail + lane_cap (the consumer never writes it). */
#define MEMTOP_SIZE_BITS 48
#define MEMTOP_USABLE_ESCAPE 0xffffu
#define MEMTOP_TIME_UNIT_NS 1000000u /* a record's time unit: 1 ms (what the monitor shows; the
					  coarse clock's own tick is 1 to 4 ms) */
struct memtop_record {
	uint32_t seq;         /* atomic */
	uint8_t type;         /* enum memtop_event_type, or MEMTOP_EV_EXT */
	uint8_t flags;        /* MEMTOP_EVF_*, and MEMTOP_EVF_EXT */
	uint16_t thread_slot;
	uint32_t stack_id;
	uint32_t time;        /* timestamp_ns / MEMTOP_TIME_UNIT_NS, mod 2^32 */
	uint64_t addr;
	uint64_t size_usable; /* size (bits 0-47) | usable - size (bits 48-63; MEMTOP_USABLE_ESCAPE:
				 in the extension) */
};
struct memtop_record_ext {
	uint32_t seq;   /* atomic */
	uint8_t type;   /* MEMTOP_EV_EXT */
	uint8_t reserved;
	uint16_t size_hi; /* bits 48-63 of the size */
	uint64_t aux;
	uint64_t link;
	uint64_t usable;
};

/* One lane of the ring: a bounded MPSC queue of lane_cap records (shm/ring.c). Every event about an
 * address goes to the lane of that address, so the lane's ticket order is the causal order of the
 * address (DESIGN invariant 1); threads that allocate in different heap regions use different lanes
 * and never share a ticket counter. head and tail sit on lines of their own. */
struct memtop_lane {
	uint64_t head;             /* producers: next ticket (CAS) */
	uint64_t reserved0[7];
	uint64_t tail;             /* consumer: next ticket to read; cells of lower tickets are free */
	uint64_t attach_ticket;    /* consumer: head when it claimed (first tracked ticket) */
	uint64_t reserved1[6];
};

/* Thread table slot. Counters are cumulative over every thread that ever used the slot, so the
 * process totals are the plain sum over all slots and never race with a thread's exit. The counters
 * of the current owner are counter - base_counter (bases are written at claim time). Single writer
 * (the owning thread) except for the overflow slot (last slot), which uses atomic adds. */
/* Byte counters are USABLE sizes (malloc_usable_size) on both sides, because a free does not know
 * the requested size: usable_alloc - usable_freed is the exact heap in use. req_bytes is the sum of
 * requested sizes (what valgrind reports). realloc counts as one free (if it had an old block) plus
 * one alloc (if it returned a new block). */
struct memtop_counters {
	uint64_t allocs;
	uint64_t frees;
	uint64_t usable_alloc;
	uint64_t usable_freed;
	uint64_t req_bytes;
	uint64_t dropped;    /* events not pushed because the ring stayed full */
	uint64_t untracked;  /* events not pushed because no consumer was attached */
	uint64_t reserved;
};

#define MEMTOP_SLOT_FREE 0u
#define MEMTOP_SLOT_LIVE 1u

struct memtop_thread_slot {
	uint32_t state;      /* atomic: MEMTOP_SLOT_FREE / MEMTOP_SLOT_LIVE */
	uint32_t generation; /* incremented on every claim */
	int32_t tid;
	uint32_t reserved0;
	uint64_t claimed_ns;
	char name[MEMTOP_THREAD_NAME_MAX];
	struct memtop_counters c;    /* cumulative, atomic (relaxed) */
	struct memtop_counters base; /* value of c when the current owner claimed the slot */
	uint64_t reserved[3]; /* pads the slot to 192 bytes: slots never share a cache line */
};
_Static_assert(sizeof(struct memtop_thread_slot) % 64 == 0, "thread slots are whole cache lines");
_Static_assert(sizeof(struct memtop_record) == 32 && sizeof(struct memtop_record_ext) == 32,
	       "two ring records to a cache line");
_Static_assert(sizeof(struct memtop_lane) == 128, "a lane's head and tail have a line each");

/* Stack descriptor: stacks[id] for 1 <= id < stacks_used. frames_off indexes the frame arena
 * (uint64_t entries). Written completely before the id is published in the hash index. */
struct memtop_stack {
	uint64_t hash;
	uint32_t frames_off;
	uint32_t depth;
};

/* Tag table entry (memtop_tag names). */
#define MEMTOP_TAG_NAME_MAX 48
struct memtop_tag {
	uint64_t timestamp_ns;
	uint64_t ready; /* atomic: 1 once name is written */
	char name[MEMTOP_TAG_NAME_MAX];
};

struct memtop_seg_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size;  /* sizeof(struct memtop_seg_header) */
	uint64_t segment_size; /* total bytes, fixed at creation */
	int32_t pid;
	uint32_t uid;
	uint64_t start_time;   /* field 22 of /proc/<pid>/stat (clock ticks after boot) */
	uint64_t created_realtime_ns;
	uint64_t created_monotonic_ns;
	char exe[MEMTOP_EXE_MAX];

	/* Regions: offsets from the segment start, counts in elements. */
	uint64_t threads_off;
	uint32_t threads_count; /* last slot is the shared overflow slot */
	uint32_t thread_slot_size;
	uint64_t stacks_off;    /* struct memtop_stack[stacks_cap] */
	uint32_t stacks_cap;
	uint32_t stack_index_cap; /* power of two */
	uint64_t stack_index_off; /* uint32_t[stack_index_cap] of stack ids, 0 = empty */
	uint64_t frames_off;      /* uint64_t[frames_cap] */
	uint32_t frames_cap;
	uint32_t ring_cap;        /* power of two: lanes * lane_cap records in all */
	uint64_t ring_off;        /* struct memtop_record[ring_cap]: lane k holds records
				     [k * lane_cap, (k + 1) * lane_cap) */
	uint32_t record_size;     /* sizeof(struct memtop_record) */
	uint32_t tags_cap;
	uint64_t tags_off;        /* struct memtop_tag[tags_cap] */
	uint32_t max_depth;       /* MEMTOP_DEPTH in force */
	uint32_t block_ms;        /* bounded wait when the ring is full */
	uint32_t ring_lanes;      /* power of two, 1..MEMTOP_LANES_MAX */
	uint32_t lane_cap;        /* ring_cap / ring_lanes, a power of two */

	/* Dynamic state. All atomic; written by the side named. */
	uint32_t flags;           /* target: MEMTOP_FLAG_* */
	int32_t exit_status;      /* target, valid with MEMTOP_FLAG_EXITED */
	uint32_t stacks_used;     /* target: next stack id (starts at 1) */
	uint32_t frames_used;     /* target: next free frame index */
	uint64_t stacks_overflow; /* target: interning attempts refused because full */
	uint32_t tags_used;       /* target */
	int32_t tree_root;        /* target, set before READY: MEMTOP_FOLLOW's root pid, with
				     MEMTOP_FLAG_TREE (0 otherwise) */
	uint64_t maps_generation; /* target: bumped on dlopen/dlclose */
	struct memtop_lane lanes[MEMTOP_LANES_MAX] __attribute__((aligned(64)));
	/* Consumer claim: claim_pid is CAS'ed from 0 (or a dead claimant) to minus the monitor pid
	 * (claiming: producers still push nothing), then set to the monitor pid once the ring is ready. */
	int32_t claim_pid __attribute__((aligned(64)));
	uint32_t reserved2;
	uint64_t claim_start_time;
	uint64_t claim_heartbeat_ns; /* consumer: CLOCK_MONOTONIC ns, refreshed at least every 200 ms */
	uint64_t attach_count;       /* consumer: incremented on every claim */
	uint64_t barrier_released;   /* consumer: number of the last barrier it released; copies of
					it or older still in a lane are stale (a consumer died while
					stepping the lanes past them) */
	uint64_t clock_ns;           /* consumer: its CLOCK_MONOTONIC_COARSE in ns at its last pop
					that found records, 0 after one that found none (and at the
					claim): producers stamp records with it, or read their own
					clock at 0. In claim_pid's line, which every push reads */

	/* The live table (shm/livetable.h): chunks of struct memtop_live_entry in the same file,
	 * past segment_size, each at a page-aligned offset. Written by the target only. */
	uint32_t live_mode __attribute__((aligned(64))); /* MEMTOP_LIVE_*, fixed at creation */
	uint32_t live_chunks;        /* chunks published (atomic release, after offset and cap) */
	uint64_t live_sample_bytes;  /* sampled mode: mean distance between sampled bytes */
	uint64_t live_overflow;      /* blocks not recorded: no room and the table could not grow */
	int32_t live_grow_lock;      /* tid of the thread adding a chunk, 0 = none */
	uint32_t reserved3;
	uint64_t live_chunk_off[MEMTOP_LIVE_CHUNKS_MAX];
	uint32_t live_chunk_cap[MEMTOP_LIVE_CHUNKS_MAX]; /* entries, a power of two */
};

/* Live table modes (MEMTOP_LIVE). */
#define MEMTOP_LIVE_OFF 0u
#define MEMTOP_LIVE_SAMPLED 1u
#define MEMTOP_LIVE_EXACT 2u

/* Live table entry flags. */
#define MEMTOP_LIVEF_REALLOC (1u << 0) /* the block came from realloc */
#define MEMTOP_LIVEF_SAMPLED (1u << 1) /* recorded by the sampler: stands for 1/(1-exp(-size/mean)) */

/* One live block in the live table: 32 bytes. key = addr << 16 | gen << 1 | busy (addr 0: the
 * entry is empty (key 0) or a tombstone); gen changes on every write, so a reader that reads the
 * key, the fields, then the same key again has a consistent copy. */
struct memtop_live_entry {
	uint64_t key;          /* atomic */
	uint64_t size;         /* requested size */
	uint64_t time_ns;      /* CLOCK_MONOTONIC_COARSE at the allocation */
	uint32_t stack_id;
	uint16_t thread_slot;
	uint16_t flags;        /* MEMTOP_LIVEF_* */
};
_Static_assert(sizeof(struct memtop_live_entry) == 32, "a live entry is half a cache line");

#endif
