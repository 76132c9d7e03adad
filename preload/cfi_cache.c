/* The per-process cache of unwind rules per pc: a fixed open-addressed table in memory the preload
 * maps itself (never malloc), read and written by every thread without locks, and the loader word
 * that makes a rule cached before a dlclose never served after it.
 * Must never block, allocate, or serve a rule whose epoch is not the current one. */
#include <sys/mman.h>

#include "cfi.h"

/* Rules are cached per (pc, epoch). The epoch counts dlopen/dlclose calls (and unloads seen behind
 * our hooks); while one is in progress (busy bits non-zero) the walk neither reads nor fills the
 * cache, so no rule computed for code being unmapped can be tagged with the epoch that follows.
 * Layout of cfi_loader: bits 0-15 calls in progress, bits 16-63 the epoch. */
uint64_t cfi_loader = 0;

/* A slot (struct cfi_slot, cfi.h) being written holds CFI_KEY_CLAIMED; empty is 0. The key works as
 * a sequence word: a writer claims it (CAS), writes the rule, then publishes the key; a reader takes
 * the rule only if the key reads the same before and after. */
#define CFI_SLOTS_LOG2 16
#define CFI_SLOTS (1u << CFI_SLOTS_LOG2)
#define CFI_PROBES 8
#define CFI_KEY_CLAIMED 1ull

static struct cfi_slot *cfi_table; /* CFI_SLOTS slots, written once at start-up */

bool cfi_cache_init(void)
{
	if (cfi_table)
		return true;
	void *m = mmap(NULL, CFI_SLOTS * sizeof(struct cfi_slot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return false;
	cfi_table = m;
	return true;
}

void cfi_loader_begin(void)
{
	/* acq_rel: the busy mark is visible before the real call changes any mapping */
	__atomic_add_fetch(&cfi_loader, 1 + CFI_EPOCH_ONE, __ATOMIC_ACQ_REL);
}

void cfi_loader_end(void)
{
	/* release: the mapping changes made by the real call come before the new epoch */
	__atomic_add_fetch(&cfi_loader, CFI_EPOCH_ONE - 1, __ATOMIC_RELEASE);
}

void cfi_epoch_bump(void)
{
	__atomic_add_fetch(&cfi_loader, CFI_EPOCH_ONE, __ATOMIC_ACQ_REL);
}

uint64_t cfi_pack(const struct cfi_rule *r, uint64_t epoch)
{
	return (uint64_t)r->kind | (uint64_t)r->cfa_on_fp << 2 | (uint64_t)r->fp_saved << 3 |
	       (uint64_t)r->cfa_off << 4 | (uint64_t)r->from_base << 23 |
	       (uint64_t)(uint8_t)(int8_t)(r->ra_off / 8) << 24 |
	       (uint64_t)(uint8_t)(int8_t)(r->fp_off / 8) << 32 | ((epoch >> 16) & 0xffffffull) << 40;
}

static inline uint32_t cfi_slot_of(uintptr_t pc)
{
	return (uint32_t)(cfi_hash(pc) >> (64 - CFI_SLOTS_LOG2));
}

bool cfi_cache_get(uintptr_t pc, uint64_t epoch, uint64_t *out)
{
	if (!cfi_table || (uint64_t)pc >> CFI_PC_BITS)
		return false;
	uint64_t want = cfi_key(pc, epoch), tag = cfi_rule_tag(epoch);
	uint32_t h = cfi_slot_of(pc);
	for (uint32_t i = 0; i < CFI_PROBES; i++) {
		struct cfi_slot *s = &cfi_table[(h + i) & (CFI_SLOTS - 1)];
		/* acquire: the rule read next is at least as new as the key's publication */
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == 0)
			return false;
		if (k != want)
			continue;
		/* acquire: the key re-read below cannot be satisfied before this load */
		uint64_t w = __atomic_load_n(&s->rule, __ATOMIC_ACQUIRE);
		/* relaxed: ordered after the rule load by its acquire; a changed key means a writer
		 * claimed the slot meanwhile and the rule may be its */
		if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) != want || (w >> 40) != tag)
			return false;
		*out = w;
		return true;
	}
	return false;
}

/* Claims a slot of the probe window: an empty one, else one of an older epoch, else the first. */
static struct cfi_slot *cfi_claim(uintptr_t pc, uint64_t epoch)
{
	uint32_t h = cfi_slot_of(pc);
	struct cfi_slot *victim = NULL;
	uint64_t victim_key = 0;
	for (uint32_t i = 0; i < CFI_PROBES; i++) {
		struct cfi_slot *s = &cfi_table[(h + i) & (CFI_SLOTS - 1)];
		/* relaxed: only a hint for the CAS below, which checks it */
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_RELAXED);
		if (k == cfi_key(pc, epoch))
			return NULL; /* another thread cached it already */
		if (k == CFI_KEY_CLAIMED)
			continue;
		if (k == 0 || (k >> CFI_PC_BITS) != (epoch & 0xffff) || !victim) {
			victim = s;
			victim_key = k;
			if (k == 0 || (k >> CFI_PC_BITS) != (epoch & 0xffff))
				break;
		}
	}
	/* acquire on success: the rule store that follows cannot move above the claim (and the
	 * release of that store publishes the claim before the new rule) */
	if (victim && __atomic_compare_exchange_n(&victim->key, &victim_key, CFI_KEY_CLAIMED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return victim;
	return NULL;
}

void cfi_cache_put(uintptr_t pc, uint64_t epoch, uint64_t rule)
{
	if (!cfi_table || (uint64_t)pc >> CFI_PC_BITS)
		return;
	struct cfi_slot *s = cfi_claim(pc, epoch);
	if (!s)
		return;
	/* release: a reader that takes this rule sees the slot claimed (its key re-read fails if it
	 * saw the old key) */
	__atomic_store_n(&s->rule, rule, __ATOMIC_RELEASE);
	/* release: the rule is written before the key names it */
	__atomic_store_n(&s->key, cfi_key(pc, epoch), __ATOMIC_RELEASE);
}
