/* The walk of the cached CFI unwinder: from the caller's registers, one cached rule per frame (a
 * per-thread direct-mapped table first, the per-process table next), the return address and frame
 * pointer read from the stack at offsets from the CFA. Any frame the rules cannot express, any read
 * outside this thread's stack, a dlopen or dlclose in progress: -1, and the caller asks libunwind
 * for the whole stack. Never allocates through malloc, never faults (every read is inside [the
 * walk's own sp, the stack's top)). */
#include <sys/mman.h>

#include "cfi.h"

/* libunwind stops at return addresses below this (a null or garbage frame), and so do we. */
#define CFI_PC_MIN 0x4000

/* 4096 slots of 16 bytes: 64 KiB per thread (pages touched as slots are), so that the rules of a
 * program's hot frames are read from L1/L2 rather than from the 1 MiB shared table. 512 slots held
 * python3's frames but not cc1's (thousands of distinct return addresses: a fifth of its walk's
 * time went to the shared table). Written only by its thread, and never by a nested capture
 * (captures do not nest on a thread: preload_stack_capture). */
#define CFI_L1_LOG2 12
#define CFI_L1_SLOTS (1u << CFI_L1_LOG2)

/* One step of a walk: the registers it started from, and where it read the caller's return address
 * and frame pointer (fp_at 0: the rule left the frame pointer as it was). */
struct cfi_step {
	uintptr_t pc, sp, fp, ra_at, fp_at;
};

/* The trail of a thread's last walk: its steps, inner first, and the registers it stopped at.
 * Why: a walk is a function of its start registers and of the stack words it reads (the rules are
 * a function of pc within one epoch). So when a new walk reaches a step's registers (pc, sp, fp),
 * and the words at that step's ra_at and fp_at (and every later step's) still hold what the trail
 * recorded, the rest of the walk is the trail's: it is replayed with a few independent loads per
 * frame instead of a rule lookup that waits on the previous frame's return address. Most
 * allocations of a program come from stacks that share their outer frames with the one before. */
#define CFI_STEPS_MAX (MEMTOP_MAX_DEPTH + 8)
struct cfi_trail {
	uint64_t epoch;
	uintptr_t hi; /* the stack the trail was walked on */
	uint32_t n;   /* steps; 0: no trail */
	struct cfi_step s[CFI_STEPS_MAX + 1]; /* s[n]: the registers the walk stopped at */
};

/* What a thread maps at its first walk (t->cfi_l1 points to it): the rule table, the memo of the
 * stacks it interned lately (unwind.c) and two trails (the last walk's, and the one being written).
 * Pages are touched as slots are used. */
#define CFI_MEMO_LOG2 10
struct cfi_thread_mem {
	struct cfi_slot l1[CFI_L1_SLOTS];
	struct shm_stack_memo memo[1u << CFI_MEMO_LOG2];
	struct cfi_trail trail[2];
	uint32_t last; /* index of the last walk's trail */
};

static struct cfi_thread_mem *cfi_mem_get(struct preload_thread *t)
{
	if (preload_likely(t->cfi_l1 != NULL))
		return t->cfi_l1 == PRELOAD_CFI_L1_NONE ? NULL : t->cfi_l1;
	void *m = mmap(NULL, sizeof(struct cfi_thread_mem), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->cfi_l1 = m == MAP_FAILED ? PRELOAD_CFI_L1_NONE : m;
	return m == MAP_FAILED ? NULL : m;
}

struct shm_stack_memo *preload_cfi_stack_memo(struct preload_thread *t, unsigned *log2)
{
	struct cfi_thread_mem *m = t->cfi_l1;
	*log2 = CFI_MEMO_LOG2;
	return m && m != PRELOAD_CFI_L1_NONE ? m->memo : NULL;
}

void preload_cfi_thread_exit(struct preload_thread *t)
{
	void *mem = t->cfi_l1;
	t->cfi_l1 = PRELOAD_CFI_L1_NONE; /* later captures of this thread (TLS destructors) skip it */
	if (mem && mem != PRELOAD_CFI_L1_NONE)
		munmap(mem, sizeof(struct cfi_thread_mem));
}

/* The rule word for pc in this epoch: the thread's table, the process's, or computed and cached. */
static bool cfi_rule_for(struct cfi_slot *l1, uintptr_t pc, uint64_t epoch, uint64_t *w)
{
	uint64_t key = cfi_key(pc, epoch);
	struct cfi_slot *s = NULL;
	if (l1) {
		s = &l1[cfi_hash(pc) >> (64 - CFI_L1_LOG2)];
		if (preload_likely(s->key == key && (s->rule >> 40) == cfi_rule_tag(epoch))) {
			*w = s->rule;
			return true;
		}
	}
	if (!cfi_cache_get(pc, epoch, w)) {
		struct cfi_rule rule;
		bool subs_changed;
		cfi_rule_compute(pc, epoch, &rule, &subs_changed);
		if (subs_changed) {
			cfi_epoch_bump();
			return false; /* this walk's epoch is gone: libunwind takes it */
		}
		*w = cfi_pack(&rule, epoch);
		cfi_cache_put(pc, epoch, *w);
	}
	if (s && (uint64_t)pc >> CFI_PC_BITS == 0) {
		s->key = key;
		s->rule = *w;
	}
	return true;
}

static inline bool cfi_read(uintptr_t addr, uintptr_t lo, uintptr_t hi, uintptr_t *out)
{
	if (addr < lo || addr > hi - sizeof(uintptr_t) || (addr & (sizeof(uintptr_t) - 1)))
		return false;
	*out = *(const uintptr_t *)addr;
	return true;
}

/* Our own frames (the hook, the capture) are dropped as the walk goes rather than after it, so that
 * the walk stops once it has `keep` frames of the program; a return address below CFI_PC_MIN ends
 * the walk and is not kept either. */
static inline bool cfi_keeps(uintptr_t ra, uintptr_t own_lo, uintptr_t own_span)
{
	return ra >= CFI_PC_MIN && ra - own_lo >= own_span;
}

/* One step by pc's rule from the registers in st (pc, sp, fp): CFI_STEP puts where it read the
 * return address and frame pointer into st and the caller's registers into *pc, *sp, *fp;
 * CFI_LAST: the walk ends here; CFI_FALLBACK: the frame needs libunwind. Inlined, so that the
 * registers stay in the walk's locals. */
static inline __attribute__((always_inline)) enum cfi_kind
cfi_step_by_rule(struct cfi_slot *l1, uint64_t epoch, uintptr_t lo, uintptr_t hi,
		 struct cfi_step *st, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp)
{
	uint64_t w;
	/* a return address: the call is the instruction before it */
	if (!cfi_rule_for(l1, st->pc - 1, epoch, &w) || cfi_word_kind(w) == CFI_FALLBACK)
		return CFI_FALLBACK;
	if (cfi_word_kind(w) == CFI_LAST)
		return CFI_LAST;
	uintptr_t cfa = cfi_word_cfa(w, st->sp, st->fp), base = cfi_word_base(w, cfa), ra, nfp = st->fp;
	st->ra_at = base + cfi_word_ra_off(w);
	st->fp_at = cfi_word_fp_saved(w) ? base + cfi_word_fp_off(w) : 0;
	if (cfa <= st->sp || !cfi_read(st->ra_at, lo, hi, &ra) ||
	    (st->fp_at && !cfi_read(st->fp_at, lo, hi, &nfp)))
		return CFI_FALLBACK;
	*pc = ra;
	*sp = cfa;
	*fp = nfp;
	return CFI_STEP;
}

/* One step from a frame of libmemtop.so itself (the walk's own, the capture's, the hook's): the
 * preload is built with frame pointers, so at any return address into it the frame's record
 * [caller's fp][return address] is at fp, and its CFA is fp + 16: what its CFI rule says, without
 * the rule lookup. A walk from a hook passes four of ours (the walk, the capture, the record, the
 * hook) before the program's: python3 churn, 6.35 rule lookups per walk before, 3.58 after plus
 * 3.77 of these steps (they were replayed when the trail matched at the same sp). x86_64 only:
 * aarch64 keeps its record at the bottom of the frame, where the CFA cannot be derived from it.
 * Debug builds check the step against the rule. CFI_FALLBACK when a read is out of bounds. */
#if defined(__x86_64__)
#define CFI_OWN_FRAME_RECORDS 1
#else
#define CFI_OWN_FRAME_RECORDS 0
#endif
static inline __attribute__((always_inline)) enum cfi_kind
cfi_step_own(uintptr_t lo, uintptr_t hi, struct cfi_step *st, uintptr_t *pc, uintptr_t *sp,
	     uintptr_t *fp)
{
	uintptr_t ra, nfp;
	st->fp_at = st->fp;
	st->ra_at = st->fp + sizeof(uintptr_t);
	if (st->fp < st->sp || !cfi_read(st->ra_at, lo, hi, &ra) || !cfi_read(st->fp_at, lo, hi, &nfp))
		return CFI_FALLBACK;
	*pc = ra;
	*sp = st->fp + 2 * sizeof(uintptr_t);
	*fp = nfp;
	return CFI_STEP;
}

#if DEBUG_ASSERT_ENABLED
/* The own step of st agrees with pc's rule (when the rule is a plain step). */
static void cfi_check_own_step(struct cfi_slot *l1, uint64_t epoch, uintptr_t lo, uintptr_t hi,
			       const struct cfi_step *own, uintptr_t own_sp)
{
	struct cfi_step st = {own->pc, own->sp, own->fp, 0, 0};
	uintptr_t pc, sp, fp;
	if (cfi_step_by_rule(l1, epoch, lo, hi, &st, &pc, &sp, &fp) == CFI_STEP)
		DEBUG_ASSERT(st.ra_at == own->ra_at && st.fp_at == own->fp_at && sp == own_sp);
}
#endif

/* The walk keeps its state in locals: a store to out or to a trail could alias any field of a
 * struct in memory (all are 64-bit words), and every step would reload it. The trail of the last
 * walk is p (pn steps usable), the one written is c (NULL: none). The registers of a walk's steps
 * rise strictly (cfa > sp), so j follows this walk's sp in p, and a step of p can match only at j;
 * from a match on, p's steps are replayed while the words they read still hold what p recorded
 * (addresses checked against the same hi when recorded, against this walk's lo here). */
__attribute__((noinline)) int preload_cfi_unwind(struct preload_thread *t, uint64_t *out, int max,
						  int keep)
{
	struct cfi_regs r;
	const uintptr_t hi = t->stack_hi, own_lo = preload_own_lo;
	const uintptr_t own_span = preload_own_hi - preload_own_lo;
	uint64_t word = cfi_loader_word();
	if (hi == 0 || (word & CFI_BUSY_MASK) || !cfi_arch_caller_regs(&r))
		return -1;
	const uint64_t epoch = word >> 16;
	const uintptr_t lo = r.sp;
	if (lo < t->stack_lo || lo >= hi)
		return -1; /* on another stack (sigaltstack, a coroutine's) */
	uintptr_t pc = r.pc, sp = r.sp, fp = r.fp;
	struct cfi_thread_mem *mem = cfi_mem_get(t);
	struct cfi_slot *l1 = mem ? mem->l1 : NULL;
	bool trail = mem && max <= CFI_STEPS_MAX;
	struct cfi_trail *c = trail ? &mem->trail[mem->last ^ 1] : NULL;
	const struct cfi_trail *p = trail ? &mem->trail[mem->last] : NULL;
	const struct cfi_step *ps = p ? p->s : NULL;
	struct cfi_step *cs = c ? c->s : NULL;
	uint32_t pn = p && p->epoch == epoch && p->hi == hi ? p->n : 0, j = 0, cn = 0;
	int n = 0, raw = 0;
	while (raw < max && n < keep && pc >= CFI_PC_MIN) {
		while (j < pn && ps[j].sp < sp)
			j++;
		if (j < pn && ps[j].sp == sp && ps[j].pc == pc && ps[j].fp == fp) {
			uint32_t from = j, end = pn;
			if (end - j > (uint32_t)(max - raw))
				end = j + (uint32_t)(max - raw);
			for (; j < end && n < keep; j++) {
				const struct cfi_step *e = &ps[j], *nx = &ps[j + 1]; /* ps[pn]: the end */
				if (e->ra_at < lo || *(const uintptr_t *)e->ra_at != nx->pc ||
				    (e->fp_at && (e->fp_at < lo || *(const uintptr_t *)e->fp_at != nx->fp)))
					break;
				cs[cn++] = *e;
				if (cfi_keeps(nx->pc, own_lo, own_span))
					out[n++] = nx->pc;
			}
			if (j != from) {
				raw += (int)(j - from);
				pc = ps[j].pc;
				sp = ps[j].sp;
				fp = ps[j].fp;
				/* at a limit or at p's end: the loop's test says which; else step j
				 * read a changed word, and is stepped by its rule (its registers are
				 * a recorded step's: pc >= CFI_PC_MIN, and the limits hold) */
				if (j == end || n >= keep)
					continue;
			}
		}
		struct cfi_step st = {pc, sp, fp, 0, 0};
		enum cfi_kind kind;
		if (CFI_OWN_FRAME_RECORDS && pc - own_lo < own_span) {
			kind = cfi_step_own(lo, hi, &st, &pc, &sp, &fp);
#if DEBUG_ASSERT_ENABLED
			if (kind == CFI_STEP)
				cfi_check_own_step(l1, epoch, lo, hi, &st, sp);
#endif
		} else {
			kind = cfi_step_by_rule(l1, epoch, lo, hi, &st, &pc, &sp, &fp);
		}
		if (kind == CFI_FALLBACK)
			return -1;
		if (kind == CFI_LAST)
			break;
		if (cs) /* never more than CFI_STEPS_MAX steps: max was checked before taking a trail */
			cs[cn++] = st;
		raw++;
		if (cfi_keeps(pc, own_lo, own_span))
			out[n++] = pc;
	}
	if (c) {
		/* a walk that ended on CFI_LAST stops at its registers again when replayed to its end:
		 * their pc gets the same rule */
		cs[cn] = (struct cfi_step){pc, sp, fp, 0, 0};
		c->n = cn;
		c->epoch = epoch;
		c->hi = hi;
		mem->last ^= 1;
	}
	return n;
}
