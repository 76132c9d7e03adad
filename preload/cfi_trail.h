/* cfi_trail: the steps of a walk, the step memo's line, and the trail of a thread's walks: its
 * store, its follow and its checks. Only cfi_walk.c includes it: the walk inlines these. */
#ifndef MEMTOP_PRELOAD_CFI_TRAIL_H
#define MEMTOP_PRELOAD_CFI_TRAIL_H

#include "cfi.h"

/* libunwind stops at return addresses below this (a null or garbage frame), and so do we. */
#define CFI_PC_MIN 0x4000

/* One step of a walk: the registers it started from (kept: pc is a frame the walk puts out, not one
 * of ours), and where it read the caller's return address and frame pointer (fp_at 0: the rule
 * left the frame pointer as it was). */
struct cfi_step {
	uintptr_t pc, sp, fp, ra_at, fp_at;
	uint16_t kept;
	uint16_t flags; /* CFI_STEP_ON_FP, and in the trail CFI_STEP_FP_MATTERS */
	uint32_t node;  /* in the trail, when named: the trie node of the pcs kept from s[0] to here */
};
/* The step's CFA was computed from fp. */
#define CFI_STEP_ON_FP 1u
/* In the trail: fp at this step's registers decides some later register of the trail (a step out
 * from here computes its CFA from it before any step reads a new fp), or the trail ends here short
 * of the stack's end. Where it does not, the trail's fp there is not checked (not read from the
 * stack, not compared at a join) and may be stale: python3's interpreter, built without frame
 * pointers, keeps anything in rbp, and no step of its stacks computes a CFA from it. */
#define CFI_STEP_FP_MATTERS 2u

static inline uintptr_t cfi_fp_mask(const struct cfi_step *st)
{
	return -(uintptr_t)((st->flags & CFI_STEP_FP_MATTERS) != 0);
}

/* A step taken by rule, kept by its registers: a later walk that reaches the same registers takes
 * it again without the rule (its lookup, its decoding, its bounds checks: ~60 of a rule step's
 * ~105 instructions for the python3 churn under callgrind). The trail holds only the last walk's
 * steps; the frames a program allocates from, below where its walks join the trail, come back at
 * the same registers again and again (one interpreter frame, its callees at a few depths). A step
 * is a function of its registers and the rule of its pc, which holds for one epoch: the table is
 * emptied when the epoch or the stack changes (cfi_step_memo_begin). The fp is part of the key
 * only when the rule reads it (fp_mask): code without frame pointers keeps anything in rbp. Reads
 * at ra_at and fp_at need no bounds: they were inside [the step's sp, hi) when it was taken, and a
 * walk that reaches the step's sp is at or below it. Direct-mapped, a line each. */
#define CFI_STEP_MEMO_LOG2 8
struct cfi_step_memo {
	uintptr_t pc, sp, fp, fp_mask; /* the key: the registers (fp & fp_mask); pc 0: empty */
	uintptr_t ra_at, fp_at, cfa;   /* the step (fp_at 0: the caller's fp is fp) */
	/* The trie node of pc under edge_parent (in the trie generation of the whole table:
	 * cfi_step_memo_trie_gen), the last time the step's pc was named (cfi_name_new_step): the
	 * store names a new step from its line here, in cache since the walk, rather than from the
	 * trie's (python3 churn under perf: a tenth of the walk's samples waited on the trie). */
	uint32_t edge_parent, edge_node;
};

/* The trail of the thread's walks: steps, outermost first. s[0] holds the registers a walk stopped
 * at, and each s[k] (k >= 1) is a step whose caller's registers are s[k - 1].
 * Why: a step is a function of its registers and of the stack words it reads (the rules are a
 * function of pc within one epoch). So when a new walk reaches the registers (pc, sp, fp) of a
 * step, and the words at its ra_at and fp_at still hold its caller's pc and fp, the caller is
 * s[k - 1]: the walk goes out along the trail with a few independent loads per frame instead of a
 * rule lookup that waits on the previous frame's return address. Most allocations of a program
 * come from stacks that share their outer frames with the one before.
 * Outermost first, so that the shared outer part stays where it is: a walk writes only its own
 * new inner steps, above the step where it joined the trail (it used to copy the whole trail, 40
 * bytes a frame: python3 churn under callgrind, ~57 instructions per replayed frame). Every step
 * is checked again whenever it is replayed, so steps beyond where a walk stopped (a limit) stay
 * valid: each is still the step from its registers, with its caller above it. */
#define CFI_STEPS_MAX (MEMTOP_MAX_DEPTH + 8)
struct cfi_trail {
	uint64_t epoch;
	uintptr_t hi; /* the stack the trail was walked on */
	uint32_t top; /* the innermost step; 0: no trail to follow */
	bool whole;   /* s[0] is where the stack ends (an outermost frame's rule, a null pc) */
	bool named;   /* every step's node is set, in the trie as it is */
	struct cfi_step s[CFI_STEPS_MAX + 1];
	/* The words steps s[1..x] read, with what each held then, in chk[0..chk_n[x]): the return
	 * address of each, and the caller's fp where the step read it and it matters
	 * (CFI_STEP_FP_MATTERS): python3 churn, 13.6 steps followed a walk, 25.1 words before fp
	 * was left out where it does not matter, 13.6 after. A walk that follows the trail to its
	 * end checks them in one loop with one branch (cfi_trail_holds), step by step only to find
	 * a word that changed (cfi_follow). nkept[x]: how many of s[0..x]'s pcs are kept. */
	uint16_t chk_n[CFI_STEPS_MAX + 1];
	uint16_t nkept[CFI_STEPS_MAX + 1];
	struct cfi_check {
		uintptr_t at, want;
	} chk[2 * CFI_STEPS_MAX];
};

#define CFI_NO_EDGE UINT32_MAX

/* The node of pc under node in the trie when the step puts pc out. */
static inline uint32_t cfi_name_step(struct stack_trie *trie, uint32_t node,
				     const struct cfi_step *st)
{
	return st->kept ? stack_trie_child(trie, node, st->pc) : node;
}

/* The same for a step the walk took itself: through the edge kept in its memo line (st->node: the
 * line's index + 1, 0 for none), when that line still holds its pc. */
static inline uint32_t cfi_name_new_step(struct stack_trie *trie, struct cfi_step_memo *steps,
					 uint32_t node, const struct cfi_step *st)
{
	struct cfi_step_memo *m = st->node ? &steps[st->node - 1] : NULL;
	if (!st->kept || !m || m->pc != st->pc)
		return cfi_name_step(trie, node, st);
	if (m->edge_parent != node) {
		m->edge_parent = node;
		m->edge_node = stack_trie_child(trie, node, st->pc);
	}
	return m->edge_node;
}

/* Where the walk's steps go once it is done: after s[0..joined] of the trail when it ended
 * following the trail from s[joined] (0: it did not), else after its own end registers. With a
 * trie, names the steps as they go in (and those below them when the trail was not named: a new
 * trie, or a walk that did not join) and returns the top step's node: the node of every pc kept
 * on the trail, which is the walk's stack when the walk put out the whole trail. One lookup per
 * kept pc: a walk that joined a named trail names only its own. One loop for the copy and the
 * names, so that a walk ends one loop of varying length, not two (each end a missed branch). A
 * trail that would exceed its room is dropped (only for stacks deeper than the limits): then
 * STACK_TRIE_ROOT. */
static uint32_t cfi_trail_store(struct cfi_trail *tr, struct stack_trie *trie,
				struct cfi_step_memo *steps, const struct cfi_step *in, uint32_t q,
				uint32_t joined, const struct cfi_step *end, bool whole)
{
	struct cfi_step *s = tr->s;
	bool named = tr->named && joined;
	tr->named = false;
	if (!joined) {
		s[0] = *end;
		s[0].flags = whole ? 0 : CFI_STEP_FP_MATTERS; /* rules go on from there */
		tr->whole = whole;
		tr->nkept[0] = (uint16_t)end->kept;
		tr->chk_n[0] = 0;
	}
	if (joined + q > CFI_STEPS_MAX) {
		tr->top = 0;
		return STACK_TRIE_ROOT;
	}
	uint32_t top = joined + q, node = STACK_TRIE_ROOT;
	if (trie) {
		node = named ? s[joined].node : STACK_TRIE_ROOT;
		for (uint32_t x = 0; !named && x <= joined; x++)
			s[x].node = node = cfi_name_step(trie, node, &s[x]);
	}
	/* pointers, not indices: GCC recomputed three addresses of 48-byte steps from x each step */
	const struct cfi_step *st = &in[q];
	for (struct cfi_step *d = &s[joined + 1], *last = &s[top]; d <= last; d++) {
		st--;
		*d = *st;
		const uint32_t x = (uint32_t)(d - s);
		const bool up_matters = d[-1].flags & CFI_STEP_FP_MATTERS;
		uint32_t c = tr->chk_n[x - 1];
		tr->chk[c++] = (struct cfi_check){st->ra_at, d[-1].pc};
		if (st->fp_at && up_matters)
			tr->chk[c++] = (struct cfi_check){st->fp_at, d[-1].fp};
		tr->chk_n[x] = (uint16_t)c;
		tr->nkept[x] = (uint16_t)(tr->nkept[x - 1] + st->kept);
		uint16_t flags = st->flags & CFI_STEP_ON_FP;
		if (flags || (!st->fp_at && up_matters))
			flags |= CFI_STEP_FP_MATTERS;
		d->flags = flags;
		if (trie)
			d->node = node = cfi_name_new_step(trie, steps, node, st);
	}
	tr->top = top;
	tr->named = trie != NULL;
	return node;
}

/* Follows the trail from s[k] outward, at most `steps` steps and until keep frames are out, while
 * the words each step read still hold what they held (tr->chk); returns the step reached. The
 * reads need no bounds here: every step read inside [its own sp, hi) when it was taken
 * (cfi_step_by_rule, cfi_step_own), the trail is of this stack (hi), and s[k]'s sp, the lowest
 * followed, is this walk's sp now, at or above its lo. */
static uint32_t cfi_follow(const struct cfi_trail *tr, uint32_t k, uint32_t steps, uint64_t *out,
			   int *n, int keep)
{
	/* a step puts out at most one frame: bounded here, the loop needs no count test (a step not
	 * kept may stop it short of keep; the walk then joins the trail again where it stopped) */
	if (steps > (uint32_t)(keep - *n))
		steps = (uint32_t)(keep - *n);
	const struct cfi_step *s = tr->s;
	uint32_t x = k;
	int m = *n;
	for (; x != k - steps; x--) {
		uintptr_t diff = 0;
		for (uint32_t c = tr->chk_n[x - 1]; c != tr->chk_n[x]; c++)
			diff |= *(const uintptr_t *)tr->chk[c].at ^ tr->chk[c].want;
		if (diff != 0)
			break;
		out[m] = s[x - 1].pc;
		m += (int)s[x - 1].kept;
	}
	*n = m;
	return x;
}

/* Whether every word steps s[1..j] read still holds what it held: the trail from s[j] is the
 * stack's own to its end. Reads need no bounds (cfi_follow says why). */
static inline bool cfi_trail_holds(const struct cfi_trail *tr, uint32_t j)
{
	/* two words a turn, each into its own sum: half the loop's counting and branches */
	const struct cfi_check *c = tr->chk, *end = c + tr->chk_n[j];
	uintptr_t d0 = 0, d1 = 0;
	for (; end - c >= 2; c += 2) {
		d0 |= *(const uintptr_t *)c[0].at ^ c[0].want;
		d1 |= *(const uintptr_t *)c[1].at ^ c[1].want;
	}
	if (c != end)
		d0 |= *(const uintptr_t *)c->at ^ c->want;
	return (d0 | d1) == 0;
}

/* Whether a walk whose registers are s[from]'s goes along the trail to the stack's end at once:
 * the trail ends where the stack does, its steps and kept frames fit in room and keep - n, and its
 * words hold. Debug builds check the answer against the step-by-step follow. */
static inline bool cfi_trail_to_end(const struct cfi_trail *tr, uint32_t from, uint32_t room, int n,
				    int keep)
{
	if (!(tr->whole || tr->s[0].pc < CFI_PC_MIN) || from > room ||
	    n + tr->nkept[from - 1] > keep || !cfi_trail_holds(tr, from))
		return false;
#if DEBUG_ASSERT_ENABLED
	uint64_t scratch[CFI_STEPS_MAX + 1];
	int sn = 0;
	DEBUG_ASSERT(cfi_follow(tr, from, from, scratch, &sn, CFI_STEPS_MAX) == 0 &&
		     sn == tr->nkept[from - 1]);
#endif
	return true;
}

/* The frames of the trail from s[j - 1] out, into out[n..]: for a walk that checked the trail
 * whole (cfi_trail_holds) and needs its frames. */
static void cfi_trail_frames(const struct cfi_trail *tr, uint32_t j, uint64_t *out, int n)
{
	for (uint32_t x = j; x-- > 0;) {
		out[n] = tr->s[x].pc;
		n += tr->s[x].kept;
	}
}

#endif
