/* The walk of the cached CFI unwinder: from the caller's registers, one cached rule per frame (a
 * per-thread direct-mapped table first, the per-process table next), the return address and frame
 * pointer read from the stack at offsets from the CFA. Any frame the rules cannot express, any read
 * outside this thread's stack, a dlopen or dlclose in progress: -1, and the caller asks libunwind
 * for the whole stack. Never allocates through malloc, never faults (every read is inside [the
 * walk's own sp, the stack's top)). */
#include <string.h>
#include <sys/mman.h>

#include "cfi.h"
#include "cfi_home.h"
#include "cfi_trail.h"

/* 4096 slots of 16 bytes: 64 KiB per thread (pages touched as slots are), so that the rules of a
 * program's hot frames are read from L1/L2 rather than from the 1 MiB shared table. 512 slots held
 * python3's frames but not cc1's (thousands of distinct return addresses: a fifth of its walk's
 * time went to the shared table). Written only by its thread, and never by a nested capture
 * (captures do not nest on a thread: preload_stack_capture). */
#define CFI_L1_LOG2 12
#define CFI_L1_SLOTS (1u << CFI_L1_LOG2)

/* What a thread maps at its first walk (t->cfi_l1 points to it): the rule table, the steps it took
 * by rule lately, the memo of the stacks it interned lately (unwind.c), the trail, the steps a
 * walk takes before it joins the trail (inner first), and the trie of its stacks (stack_trie.c).
 * Pages are touched as slots are used. */
#define CFI_MEMO_LOG2 10
struct cfi_thread_mem {
	struct cfi_slot l1[CFI_L1_SLOTS];
	struct cfi_step_memo steps[1u << CFI_STEP_MEMO_LOG2];
	struct cfi_home homes[1u << CFI_HOME_LOG2];
	uint64_t steps_epoch; /* the epoch and stack the steps (and homes) were taken in */
	uintptr_t steps_hi;
	uint32_t steps_trie_gen; /* the trie generation of every edge in the steps */
	struct shm_stack_memo memo[1u << CFI_MEMO_LOG2];
	struct cfi_trail trail;
	struct cfi_step inner[CFI_STEPS_MAX + 1];
	struct stack_trie trie;
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
 * CFI_LAST: the walk ends here; CFI_FALLBACK: the frame needs libunwind (or reads outside [its sp,
 * hi): see cfi_follow). Inlined, so that the registers stay in the walk's locals. */
static inline __attribute__((always_inline)) enum cfi_kind
cfi_step_by_rule(struct cfi_slot *l1, uint64_t epoch, uintptr_t hi, struct cfi_step *st,
		 uintptr_t *pc, uintptr_t *sp, uintptr_t *fp, bool *on_fp)
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
	*on_fp = cfi_word_cfa_on_fp(w);
	/* Reads at or above the frame's own sp (>= lo): then a later walk that reaches this step's
	 * registers, its sp at or below them, may follow it without checking the addresses against
	 * its own lo (cfi_follow). Rules of real frames read there (the return address is at CFA - 8
	 * on x86_64, the frame record above sp on aarch64); anything else goes to libunwind. */
	if (cfa <= st->sp || !cfi_read(st->ra_at, st->sp, hi, &ra) ||
	    (st->fp_at && !cfi_read(st->fp_at, st->sp, hi, &nfp)))
		return CFI_FALLBACK;
	*pc = ra;
	*sp = cfa;
	*fp = nfp;
	return CFI_STEP;
}

/* The step memo's table for a walk in this epoch on the stack ending at hi, emptied first when
 * its steps were taken in another. */
static inline struct cfi_step_memo *cfi_step_memo_begin(struct cfi_thread_mem *m, uint64_t epoch,
							uintptr_t hi)
{
	if (preload_unlikely(m->steps_epoch != epoch || m->steps_hi != hi)) {
		memset(m->steps, 0, sizeof m->steps);
		memset(m->homes, 0, sizeof m->homes);
		m->steps_epoch = epoch;
		m->steps_hi = hi;
	}
	return m->steps;
}

/* The steps' trie edges are of generation gen from here on: any of another is forgotten. */
static void cfi_step_memo_trie_gen(struct cfi_thread_mem *m, uint32_t gen)
{
	if (preload_likely(m->steps_trie_gen == gen))
		return;
	for (size_t i = 0; i < sizeof m->steps / sizeof m->steps[0]; i++)
		m->steps[i].edge_parent = CFI_NO_EDGE;
	m->steps_trie_gen = gen;
}

static inline struct cfi_step_memo *cfi_step_memo_slot(struct cfi_step_memo *steps, uintptr_t pc,
						       uintptr_t sp)
{
	return &steps[((pc ^ (sp << 16)) * 0x9e3779b97f4a7c15ull) >> (64 - CFI_STEP_MEMO_LOG2)];
}

/* One step from the registers in st by the memo (true) or by pc's rule (cfi_step_by_rule), which
 * then goes into the memo. */
static inline __attribute__((always_inline)) enum cfi_kind
cfi_step_memo(struct cfi_step_memo *steps, struct cfi_slot *l1, uint64_t epoch, uintptr_t hi,
	      struct cfi_step *st, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp)
{
	struct cfi_step_memo *m = steps ? cfi_step_memo_slot(steps, st->pc, st->sp) : NULL;
	if (m)
		st->node = (uint32_t)(m - steps) + 1; /* for the store: cfi_name_new_step */
	if (m && m->pc == st->pc && m->sp == st->sp && ((m->fp ^ st->fp) & m->fp_mask) == 0) {
#if DEBUG_ASSERT_ENABLED
		/* the memo's step is the rule's (debug builds take both; a fallback: the epoch
		 * moved on under the walk, which then goes to libunwind) */
		struct cfi_step by_rule = *st;
		uintptr_t rpc, rsp, rfp;
		bool on_fp;
		enum cfi_kind rk = cfi_step_by_rule(l1, epoch, hi, &by_rule, &rpc, &rsp, &rfp, &on_fp);
		DEBUG_ASSERT(rk == CFI_FALLBACK ||
			     (rk == CFI_STEP && by_rule.ra_at == m->ra_at && by_rule.fp_at == m->fp_at &&
			      rsp == m->cfa));
#endif
		st->ra_at = m->ra_at;
		st->fp_at = m->fp_at;
		st->flags = m->fp_mask ? CFI_STEP_ON_FP : 0;
		*pc = *(const uintptr_t *)m->ra_at;
		*sp = m->cfa;
		*fp = m->fp_at ? *(const uintptr_t *)m->fp_at : st->fp;
		return CFI_STEP;
	}
	bool on_fp = true;
	enum cfi_kind kind = cfi_step_by_rule(l1, epoch, hi, st, pc, sp, fp, &on_fp);
	st->flags = on_fp ? CFI_STEP_ON_FP : 0;
	if (m && kind == CFI_STEP) {
		m->pc = st->pc;
		m->sp = st->sp;
		m->fp = st->fp;
		m->fp_mask = on_fp ? ~(uintptr_t)0 : 0;
		m->ra_at = st->ra_at;
		m->fp_at = st->fp_at;
		m->cfa = *sp;
		m->edge_parent = CFI_NO_EDGE;
	}
	return kind;
}

/* One step from a frame of libmemtop.so itself (the walk's own, the capture's, the hook's): the
 * preload is built with frame pointers, so at any return address into it the frame's record
 * [caller's fp][return address] is at fp, and its CFA is fp + 16: what its CFI rule says, without
 * the rule lookup. A walk from a hook passes four of ours (the walk, the capture, the record, the
 * hook) before the program's: python3 churn, 6.35 rule lookups per walk before, 3.58 after plus
 * 3.77 of these steps. x86_64 only: aarch64 keeps its record at the bottom of the frame, where the
 * CFA cannot be derived from it. Debug builds check the step against the rule. CFI_FALLBACK when a
 * read is out of bounds. */
#if defined(__x86_64__)
#define CFI_OWN_FRAME_RECORDS 1
#else
#define CFI_OWN_FRAME_RECORDS 0
#endif
static inline __attribute__((always_inline)) enum cfi_kind
cfi_step_own(uintptr_t hi, struct cfi_step *st, uintptr_t *pc, uintptr_t *sp,
	     uintptr_t *fp)
{
	/* the record's two words inside [sp, hi) (sp >= lo), aligned */
	const uintptr_t f = st->fp;
	if (f < st->sp || f > hi - 2 * sizeof(uintptr_t) || (f & (sizeof(uintptr_t) - 1)))
		return CFI_FALLBACK;
	st->fp_at = f;
	st->ra_at = f + sizeof(uintptr_t);
	st->flags = CFI_STEP_ON_FP;
	*pc = ((const uintptr_t *)f)[1];
	*sp = f + 2 * sizeof(uintptr_t);
	*fp = ((const uintptr_t *)f)[0];
	return CFI_STEP;
}

#if DEBUG_ASSERT_ENABLED
/* The own step of st agrees with pc's rule (when the rule is a plain step). */
static void cfi_check_own_step(struct cfi_slot *l1, uint64_t epoch, uintptr_t hi,
			       const struct cfi_step *own, uintptr_t own_sp)
{
	struct cfi_step st = {.pc = own->pc, .sp = own->sp, .fp = own->fp};
	uintptr_t pc, sp, fp;
	bool on_fp;
	if (cfi_step_by_rule(l1, epoch, hi, &st, &pc, &sp, &fp, &on_fp) == CFI_STEP)
		DEBUG_ASSERT(st.ra_at == own->ra_at && st.fp_at == own->fp_at && sp == own_sp);
}
#endif

/* The walk keeps its state in locals: a store to out or to the trail could alias any field of a
 * struct in memory (all are 64-bit words), and every step would reload it. The registers of a
 * walk's steps rise strictly (cfa > sp), and so do the trail's from s[top] down to s[0]: `at`
 * follows this walk's sp down the trail, and a step can match only there. From a match on, the
 * trail is followed while the words its steps read still hold what they recorded (cfi_follow says
 * why those reads need no bounds). A word that changed: the steps followed so far go to in[] like
 * the walk's own, and the walk goes on by rules from there. */
__attribute__((noinline)) int preload_cfi_unwind(struct preload_thread *t, uint64_t *out, int max,
						  int keep, uint32_t **stack_of,
						  const void *hook_frame)
{
	struct cfi_regs r;
	const uintptr_t hi = t->stack_hi, own_lo = preload_own_lo;
	const uintptr_t own_span = preload_own_hi - preload_own_lo;
	uint64_t word = cfi_loader_word();
	if (hi == 0 || (word & CFI_BUSY_MASK))
		return -1;
	/* Where the walk's reads start. With the hook's frame record (x86_64), at this function's
	 * own frame: every read is at or above the hook's record, so our caller's registers are not
	 * needed (with the loader word read inline, the storm's three-frame walks under callgrind:
	 * 265 -> 255 instructions). Else our caller's registers, from which our own frames are
	 * stepped one by one; debug builds always take them, to check the record's step against
	 * those steps. */
	const bool at_hook = CFI_OWN_FRAME_RECORDS && !DEBUG_ASSERT_ENABLED && hook_frame;
	if (at_hook) {
		r.pc = r.fp = 0;
		r.sp = (uintptr_t)__builtin_frame_address(0);
	} else if (!cfi_arch_caller_regs(&r)) {
		return -1;
	}
	const uint64_t epoch = word >> 16;
	const uintptr_t lo = r.sp;
	if (lo < t->stack_lo || lo >= hi)
		return -1; /* on another stack (sigaltstack, a coroutine's) */
	uintptr_t pc = r.pc, sp = r.sp, fp = r.fp;
	struct cfi_thread_mem *mem = cfi_mem_get(t);
	struct cfi_slot *l1 = mem ? mem->l1 : NULL;
	struct cfi_step_memo *steps = mem ? cfi_step_memo_begin(mem, epoch, hi) : NULL;
	struct cfi_trail *tr = mem && max <= CFI_STEPS_MAX ? &mem->trail : NULL;
	struct cfi_step *in = tr ? mem->inner : NULL;
	struct cfi_step *in_end = in; /* after the walk's own steps so far (a pointer: see `at`) */
	const struct cfi_step *s = tr ? tr->s : NULL;
	uint32_t joined = 0;
	/* the trail's step the walk may join next (s[k]): a pointer, as GCC recomputed the address
	 * of a 48-byte step from its index at every look; s itself (k = 0) stops the scan */
	const struct cfi_step *at = tr && tr->epoch == epoch && tr->hi == hi ? &s[tr->top] : s;
	struct stack_trie *trie = NULL;
	if (stack_of) {
		*stack_of = NULL;
		if (tr) {
			trie = &mem->trie;
			if (stack_trie_begin(trie, preload_seg.epoch))
				tr->named = false;
			if (steps)
				cfi_step_memo_trie_gen(mem, trie->gen);
		}
	}
	uint32_t kept = cfi_keeps(pc, own_lo, own_span);
	bool whole = false, cut = false; /* cut: the walk stopped on the trail before its end */
	int n = 0, raw = 0;
	if (CFI_OWN_FRAME_RECORDS) {
#if DEBUG_ASSERT_ENABLED
		uintptr_t own_pc = pc, own_sp = sp, own_fp = fp;
#endif
		/* The hook's record is a frame of ours: its caller, past every frame of ours below
		 * it, is where the walk starts (one step instead of ~4). A record outside [lo, hi) or
		 * misaligned is ignored, and our frames are stepped from the walk's own. */
		struct cfi_step hook = {.sp = lo, .fp = (uintptr_t)hook_frame};
		if (hook_frame && cfi_step_own(hi, &hook, &pc, &sp, &fp) == CFI_STEP) {
#if DEBUG_ASSERT_ENABLED
			/* our frames stepped one by one reach the hook's caller too */
			while (own_sp < sp && own_pc - own_lo < own_span) {
				struct cfi_step st = {.pc = own_pc, .sp = own_sp, .fp = own_fp};
				DEBUG_ASSERT(cfi_step_own(hi, &st, &own_pc, &own_sp, &own_fp) == CFI_STEP);
			}
			DEBUG_ASSERT(own_pc == pc && own_sp == sp && own_fp == fp);
#endif
			raw++;
		} else if (at_hook) {
			return -1; /* the record is not usable here (not on this stack): libunwind */
		}
		/* Our own frames first (the walk's, the capture's, the record's, the hook's, or those
		 * above the hook's caller when that is ours): two loads each, and not in the trail,
		 * where their sp (it moves with the program's) would only add steps to skip and to
		 * copy. The trail starts at the program's frame. */
		while (raw < max && pc - own_lo < own_span) {
			struct cfi_step st = {.pc = pc, .sp = sp, .fp = fp};
			if (cfi_step_own(hi, &st, &pc, &sp, &fp) != CFI_STEP)
				return -1;
#if DEBUG_ASSERT_ENABLED
			cfi_check_own_step(l1, epoch, hi, &st, sp);
#endif
			raw++;
		}
		kept = cfi_keeps(pc, own_lo, own_span);
		if (raw > 0 && kept && keep > 0)
			out[n++] = pc;
	}
	/* By home: the walk from the program's first frame by the steps a walk from the same registers
	 * took before, when they hold, and on along the trail. Nothing is written unless the walk ends
	 * there; else it goes on as if no home were kept. */
	struct cfi_home *const homes = trie && tr->named ? mem->homes : NULL;
	if (homes && at > s && kept && pc >= CFI_PC_MIN) {
		struct cfi_home *h = cfi_home_set(homes, pc, sp);
		int hn = n, hraw = raw;
		const uint32_t top = (uint32_t)(at - s);
		if (raw + CFI_HOME_STEPS <= max && n + CFI_HOME_STEPS <= keep &&
		    (cfi_home_reaches(h, s, top, pc, sp, fp, out, &hn, &hraw) ||
		     cfi_home_reaches(++h, s, top, pc, sp, fp, out, &hn, &hraw))) {
			const uint32_t from = h->j, room = (uint32_t)(max - hraw);
			const int outer = tr->nkept[from - 1];
			if (cfi_trail_to_end(tr, from, room, hn, keep)) {
				uint32_t node = cfi_home_node(h, trie, s[from].node, pc);
				if (node == STACK_TRIE_ROOT)
					return -1; /* cannot be: the trie always has room for a walk */
				if (h->stack == MEMTOP_STACK_NONE)
					h->stack = trie->node[node].stack; /* interned since */
				/* the frames, when the caller needs them: a stack not interned yet, the
				 * check mode's comparison */
				if (h->stack == MEMTOP_STACK_NONE ||
				    preload_cfg.unwinder == PRELOAD_UNWIND_CHECK)
					cfi_trail_frames(tr, from, out, hn);
				*stack_of = &h->stack;
				return hn + outer;
			}
			uint32_t k = cfi_follow(tr, from, from < room ? from : room, out, &hn, keep);
			hraw += (int)(from - k);
			if (hraw >= max || hn >= keep)
				return hn; /* at a limit: the frames are in out, no trie node */
			/* a word of the trail changed: the walk's own steps as usual */
		}
	}
	/* A walk that begins on the trail's innermost step (a loop allocating from one place: the
	 * storm's threads: no home, as it takes no step of its own) ... */
	if (homes && at > s && kept &&
	    ((at->sp ^ sp) | (at->pc ^ pc) | ((at->fp ^ fp) & cfi_fp_mask(at))) == 0) {
		/* ... and follows it to its end: the trail stays as it is, and its top names the walk's
		 * stack (frames written only when the caller needs them, as by a home) */
		const uint32_t from = (uint32_t)(at - s);
		const int outer = tr->nkept[from - 1];
		if (cfi_trail_to_end(tr, from, (uint32_t)(max - raw), n, keep)) {
			uint32_t *id = &trie->node[s[from].node].stack;
			if (*id == MEMTOP_STACK_NONE || preload_cfg.unwinder == PRELOAD_UNWIND_CHECK)
				cfi_trail_frames(tr, from, out, n);
			*stack_of = id;
			return n + outer;
		}
	}
	bool copied = false; /* in[] holds steps of the trail: no home is kept of them */
	while (raw < max && n < keep && pc >= CFI_PC_MIN) {
		while (at > s && at->sp < sp)
			at--;
		/* one branch for the three registers: whether a step joins the trail varies from
		 * walk to walk */
		if (at > s && ((at->sp ^ sp) | (at->pc ^ pc) | ((at->fp ^ fp) & cfi_fp_mask(at))) == 0) {
			const uint32_t from = (uint32_t)(at - s), room = (uint32_t)(max - raw);
			const uintptr_t join_fp = fp; /* at the join: where the trail's may be stale */
			uint32_t k;
			if (cfi_trail_to_end(tr, from, room, n, keep)) {
				cfi_trail_frames(tr, from, out, n);
				n += tr->nkept[from - 1];
				k = 0;
			} else {
				k = cfi_follow(tr, from, from < room ? from : room, out, &n, keep);
			}
			at = &s[k];
			raw += (int)(from - k);
			if (k == 0 && in_end == in && from == tr->top && trie && tr->named &&
			    (tr->whole || s[0].pc < CFI_PC_MIN)) {
				/* The walk began on the trail's innermost step and followed it to its
				 * end (a loop allocating from one place): the trail stays as it is,
				 * named, and its top names the walk's stack. The general end below
				 * comes to the same, with a store and a call more. */
				if (s[from].node != STACK_TRIE_ROOT)
					*stack_of = &trie->node[s[from].node].stack;
				return n;
			}
			pc = s[k].pc;
			sp = s[k].sp;
			fp = s[k].fp;
			kept = s[k].kept;
			if ((k == 0 && s[0].pc < CFI_PC_MIN) || (k == 0 && tr->whole) || raw >= max ||
			    n >= keep) {
				/* at the trail's end, or at a limit: the walk ends on the trail */
				whole = k == 0 && (tr->whole || pc < CFI_PC_MIN);
				cut = k != 0;
				joined = from;
				break;
			}
			/* s[k] read a changed word (or the trail ended at a limit): the steps followed
			 * are this walk's own now, and s[k]'s registers are stepped by their rule */
			copied = true;
			/* their fps as the stack has them now: the trail's were not checked where they
			 * did not matter to the trail, and may to the steps from here */
			fp = join_fp;
			for (uint32_t x = from; x > k; x--) {
				*in_end = s[x];
				in_end->fp = fp;
				in_end->node = 0; /* no memo line (cfi_name_new_step) */
				if (s[x].fp_at)
					fp = *(const uintptr_t *)s[x].fp_at;
				in_end++;
			}
		}
		struct cfi_step st = {.pc = pc, .sp = sp, .fp = fp, .kept = kept};
		enum cfi_kind kind;
		if (CFI_OWN_FRAME_RECORDS && pc - own_lo < own_span) {
			kind = cfi_step_own(hi, &st, &pc, &sp, &fp);
#if DEBUG_ASSERT_ENABLED
			if (kind == CFI_STEP)
				cfi_check_own_step(l1, epoch, hi, &st, sp);
#endif
		} else {
			kind = cfi_step_memo(steps, l1, epoch, hi, &st, &pc, &sp, &fp);
		}
		if (kind == CFI_FALLBACK)
			return -1;
		if (kind == CFI_LAST) {
			whole = true;
			break;
		}
		if (in) /* never more than CFI_STEPS_MAX steps: max was checked before taking the trail */
			*in_end++ = st;
		raw++;
		kept = cfi_keeps(pc, own_lo, own_span);
		if (kept)
			out[n++] = pc;
	}
	if (tr) {
		struct cfi_step end = {.pc = pc, .sp = sp, .fp = fp, .kept = kept};
		uint32_t node = cfi_trail_store(tr, trie, steps, in, (uint32_t)(in_end - in), joined,
						&end, whole || pc < CFI_PC_MIN);
		tr->epoch = epoch;
		tr->hi = hi;
		if (homes && joined && !cut && !copied && node != STACK_TRIE_ROOT)
			cfi_home_keep(homes, tr, joined, in, (uint32_t)(in_end - in), trie->gen);
		/* the trail's kept pcs are the walk's frames unless the walk stopped on it before its
		 * end */
		if (!cut && node != STACK_TRIE_ROOT)
			*stack_of = &trie->node[node].stack;
	}
	return n;
}
