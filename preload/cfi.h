/* The cached DWARF CFI unwinder of the preload (MEMTOP_UNWIND=cfi): rules per pc reduced from
 * .eh_frame (cfi_eh.c), a lock-free per-process rule cache (cfi_cache.c), the walk (cfi_walk.c) and
 * the machine's part (cfi_arch.c). Nothing here may allocate, lock, or read outside the thread's
 * stack; any frame it cannot express sends the whole capture to libunwind. */
#ifndef MEMTOP_PRELOAD_CFI_H
#define MEMTOP_PRELOAD_CFI_H

#include <stdbool.h>
#include <stdint.h>

#include "debug_assert.h"
#include "preload.h"

/* What a frame's row reduces to. */
enum cfi_kind {
	CFI_STEP = 0,     /* CFA = SP|FP + cfa_off; RA at CFA + ra_off; FP at CFA + fp_off or unchanged */
	CFI_LAST = 1,     /* return address undefined: the outermost frame (_start, clone) */
	CFI_FALLBACK = 2, /* not expressible (expression, signal frame, register rule, no FDE, no module) */
};

struct cfi_rule {
	uint8_t kind;      /* enum cfi_kind */
	uint8_t cfa_on_fp; /* 1: CFA = FP + cfa_off; 0: CFA = SP + cfa_off */
	uint8_t fp_saved;  /* 1: the caller's FP is at CFA + fp_off; 0: FP is unchanged */
	uint8_t from_base; /* 1: ra_off and fp_off count from CFA - cfa_off (the frame's lowest address),
			    * not from the CFA: aarch64 keeps its frame record at the bottom of the
			    * frame, more than 1 KiB below the CFA in large frames */
	uint32_t cfa_off;  /* < CFI_CFA_OFF_LIMIT */
	int32_t ra_off, fp_off; /* multiples of 8 in [-1024, 1016] */
};
#define CFI_CFA_OFF_LIMIT (1u << 19)

/* The machine's part (cfi_arch.c). DWARF register numbers of the stack pointer and frame pointer;
 * the return address column comes from each CIE. */
struct cfi_regs {
	uintptr_t pc, sp, fp;
};
extern const int cfi_reg_sp, cfi_reg_fp;
/* Fills r with the registers of its caller as they are after the call returns (pc = the return
 * address into the caller). False where the machine has no CFI walk: everything goes to libunwind. */
bool cfi_arch_caller_regs(struct cfi_regs *r);

/* What a CIE says about the FDEs that use it (cfi_eh.c reads it, cfi_row.c runs its instructions). */
struct cfi_cie {
	const uint8_t *insns, *insns_end;
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_reg;
	uint8_t fde_enc;
	bool has_z, signal;
};

/* cfi_row.c: runs the CIE's then the FDE's instructions up to pc (code starting at pc_begin) and
 * reduces the row to a rule. */
void cfi_row_rule(const struct cfi_cie *c, const uint8_t *insns, const uint8_t *end,
		  uintptr_t pc_begin, uintptr_t pc, struct cfi_rule *out);
uint64_t cfi_uleb(const uint8_t **p, const uint8_t *end);
int64_t cfi_sleb(const uint8_t **p, const uint8_t *end);
bool cfi_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, uintptr_t data_base,
		 uintptr_t *out);

/* cfi_eh.c: the rule for pc (a return address - 1) from the .eh_frame of the module holding it.
 * May call dl_iterate_phdr; never allocates. *subs_changed is set when modules were unloaded since
 * the last call (so that the caller invalidates the cache). */
void cfi_rule_compute(uintptr_t pc, uint64_t epoch, struct cfi_rule *out, bool *subs_changed);

/* cfi_cache.c: the loader word (epoch of the loaded modules + dlopen/dlclose calls in progress),
 * and the rule cache keyed by (pc, epoch). */
#define CFI_BUSY_MASK 0xffffu
#define CFI_EPOCH_ONE (1ull << 16)
bool cfi_cache_init(void);
extern uint64_t cfi_loader; /* the loader word: read it through cfi_loader_word */
static inline uint64_t cfi_loader_word(void)
{
	/* acquire: pairs with the release in cfi_loader_end, so that a walk seeing the new epoch sees
	 * the loader's work (the new mappings) too */
	return __atomic_load_n(&cfi_loader, __ATOMIC_ACQUIRE);
}
void cfi_loader_begin(void);  /* before a real dlopen/dlclose */
void cfi_loader_end(void);    /* after it */
void cfi_epoch_bump(void);    /* modules changed behind our hooks */
bool cfi_cache_get(uintptr_t pc, uint64_t epoch, uint64_t *rule);
void cfi_cache_put(uintptr_t pc, uint64_t epoch, uint64_t rule);

/* A cached rule is one word: kind (bits 0-1), CFA on FP (2), FP saved (3), CFA offset (4-22),
 * offsets from the frame's base (23), RA offset / 8 (24-31, signed), FP offset / 8 (32-39, signed),
 * epoch bits 16-39 (40-63). Its key is
 * pc | epoch bits 0-15 << 48 (pcs of 48 bits or more are never cached). */
#define CFI_PC_BITS 48
struct cfi_slot {
	uint64_t key, rule;
};
uint64_t cfi_pack(const struct cfi_rule *r, uint64_t epoch);
static inline uint64_t cfi_key(uintptr_t pc, uint64_t epoch)
{
	return (uint64_t)pc | (epoch & 0xffff) << CFI_PC_BITS;
}
static inline uint64_t cfi_rule_tag(uint64_t epoch)
{
	return (epoch >> 16) & 0xffffff;
}
static inline uint64_t cfi_hash(uintptr_t pc)
{
	return (uint64_t)pc * 0x9e3779b97f4a7c15ull;
}
static inline unsigned cfi_word_kind(uint64_t w)
{
	return w & 3;
}
static inline bool cfi_word_cfa_on_fp(uint64_t w)
{
	return (w >> 2) & 1;
}
static inline uintptr_t cfi_word_cfa(uint64_t w, uintptr_t sp, uintptr_t fp)
{
	return (cfi_word_cfa_on_fp(w) ? fp : sp) + ((w >> 4) & (CFI_CFA_OFF_LIMIT - 1));
}
/* Where the RA and FP offsets count from: the CFA, or the frame's base (CFA - CFA offset). */
static inline uintptr_t cfi_word_base(uint64_t w, uintptr_t cfa)
{
	return (w >> 23) & 1 ? cfa - ((w >> 4) & (CFI_CFA_OFF_LIMIT - 1)) : cfa;
}
static inline intptr_t cfi_word_ra_off(uint64_t w)
{
	return (intptr_t)(int8_t)(uint8_t)(w >> 24) * 8;
}
static inline bool cfi_word_fp_saved(uint64_t w)
{
	return (w >> 3) & 1;
}
static inline intptr_t cfi_word_fp_off(uint64_t w)
{
	return (intptr_t)(int8_t)(uint8_t)(w >> 32) * 8;
}

/* cfi_walk.c: the per-thread first-level cache (a direct-mapped table of CFI_L1_SLOTS, mapped at
 * the thread's first walk, unmapped when it exits), and beside it the thread's memo of interned
 * stacks (NULL before the thread's first walk or after its exit). */
void preload_cfi_thread_exit(struct preload_thread *t);
struct shm_stack_memo *preload_cfi_stack_memo(struct preload_thread *t, unsigned *log2);

/* stack_trie.c: a thread's stacks as trie paths (node = parent node + return address; the root is
 * the stack's outside), each node caching the id its path was interned as. */
#define STACK_TRIE_LOG2 13
#define STACK_TRIE_ROOT 0u
struct stack_trie_node {
	uint64_t pc;    /* 0: empty slot */
	uint32_t parent;
	uint32_t stack; /* MEMTOP_STACK_NONE until the path is interned */
};
struct stack_trie {
	uint32_t used;
	uint32_t gen;     /* how many times it was emptied: node numbers of another gen are void */
	uint64_t binding; /* the segment binding whose stack ids the nodes cache (shm_segment.epoch) */
	struct stack_trie_node node[1u << STACK_TRIE_LOG2];
};
/* At most this many nodes when a walk starts, so that probes stay short and the walk (one new node
 * per frame it puts out, at most) never finds the table full. Half the table: python3 makes more
 * distinct nodes than any size tried holds (2^13 to 2^15), so the table empties now and then
 * whatever its fill, and linear probing at three quarters full cost more than emptying it twice
 * as often (python3 churn under callgrind with a consuming monitor: 1,906.5 M instructions in all
 * at 3/4, 1,886.6 M at 1/2, 1,912.4 M at 3/8; 2^14 nodes at 1/2, 1,888.2 M). */
#define STACK_TRIE_FILL ((1u << STACK_TRIE_LOG2) / 2 - (MEMTOP_MAX_DEPTH + 1))
bool stack_trie_reset(struct stack_trie *tr, uint64_t binding);
/* Before a walk: empties the table when it is nearly full or holds ids of another segment binding
 * (a fork child's segment, a segment made again), and then returns true (node numbers kept from
 * before are void). The binding is process-local: no read of the shared header per walk. */
static inline bool stack_trie_begin(struct stack_trie *tr, uint64_t binding)
{
	if (preload_likely(tr->used < STACK_TRIE_FILL && tr->binding == binding))
		return false;
	return stack_trie_reset(tr, binding);
}
uint32_t stack_trie_add(struct stack_trie *tr, uint32_t slot, uint32_t parent, uint64_t pc);
/* The node of pc under parent, made if new (the table always has room after stack_trie_begin).
 * Slot 0 is the root's number, never a node: a probe reaching it goes on (stack_trie_add). */
static inline uint32_t stack_trie_child(struct stack_trie *tr, uint32_t parent, uint64_t pc)
{
	uint64_t h = (pc ^ ((uint64_t)parent << 40 | parent)) * 0x9e3779b97f4a7c15ull;
	uint32_t i = (uint32_t)(h >> (64 - STACK_TRIE_LOG2));
	const struct stack_trie_node *nd = &tr->node[i];
	if (preload_likely(nd->pc == pc && nd->parent == parent && i != STACK_TRIE_ROOT))
		return i;
	/* Linear probing: a node not in its home slot is most often in the next (python3 churn under
	 * callgrind: a third of the lookups missed the home slot, and the walk's instructions fell 1 %
	 * with this second look). */
	uint32_t j = (i + 1) & ((1u << STACK_TRIE_LOG2) - 1);
	nd = &tr->node[j];
	if (nd->pc == pc && nd->parent == parent && j != STACK_TRIE_ROOT)
		return j;
	return stack_trie_add(tr, i, parent, pc);
}

/* cfi_walk.c: walks the stack of the calling thread from its caller on, at most max frames, and
 * puts the return addresses outside libmemtop.so ([preload_own_lo, preload_own_hi), unwind.c) into
 * out[0..keep): the same frames as unwind_strip_own of a max-frame walk. Returns the count, or -1
 * when some frame needs libunwind. With stack_of, *stack_of gets where the id of exactly these
 * frames in preload_seg is cached (MEMTOP_STACK_NONE there until the caller interns them and
 * stores the id), or NULL. hook_frame (or NULL): PRELOAD_HOOK_FRAME() of a preload function on
 * this thread's stack now, below the program's frames: the walk starts at its caller. */
int preload_cfi_unwind(struct preload_thread *t, uint64_t *out, int max, int keep,
		       uint32_t **stack_of, const void *hook_frame);
extern uintptr_t preload_own_lo, preload_own_hi;

#endif
