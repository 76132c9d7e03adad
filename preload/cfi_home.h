/* cfi_home: the homes of a thread's walks (the steps from a first frame to the trail, kept by
 * that frame's registers). Only cfi_walk.c includes it: the walk inlines these. */
#ifndef MEMTOP_PRELOAD_CFI_HOME_H
#define MEMTOP_PRELOAD_CFI_HOME_H

#include "cfi_trail.h"

/* A home: the steps a walk took from the registers of a program's call into malloc (pc0, sp0) up
 * to where it joined the trail (s[j], its registers sp_end and pc[q - 1]), kept so that a later
 * walk from the same registers checks those steps all at once instead of taking them one after
 * another. A step by memo or rule waits on the return address the step before read; the home's
 * words are checked with independent loads, and the walk joins the trail at s[j] without the
 * steps between, and without storing steps into the trail or naming them in the trie after.
 * Why it holds: a step is a function of its registers and the words it reads (the trail's
 * argument), so with pc0 and sp0 equal, each return address word holding pc[i], and fp equal
 * where a step's CFA was computed from it (fp itself is carried along as the steps read it), the
 * walk's registers at s[j] are those of the home's last step; s[j] then matches them like any
 * join. Its trie node is kept too: the walk's stack under s[j]'s node (parent_node) in the trie
 * of generation gen. At most CFI_HOME_STEPS steps, every pc of them kept. Emptied with the step
 * memo (another epoch or stack). python3 churn: 91 % of walks go by a home (68 % with 64 homes
 * one to a set); an experiment build timing each capture with the TSC, medians of 6 runs in
 * turn: 156.9 ticks a capture before the homes, 123.7 with them and the trail's checks. */
#define CFI_HOME_STEPS 4
#define CFI_HOME_LOG2 8
struct cfi_home {
	/* what every walk by the home reads, in its first two lines */
	uintptr_t pc0, sp0, sp_end;
	uintptr_t ra_at[CFI_HOME_STEPS];
	uintptr_t pc[CFI_HOME_STEPS]; /* the return address step i read: the pc of level i + 1 */
	uint32_t j, parent_node, node, gen;
	/* node's stack id, kept here so that a walk by the home does not read the trie's line for
	 * it (MEMTOP_STACK_NONE: not known yet; the capture stores it here once interned) */
	uint32_t stack;
	uint8_t q, on_fp; /* on_fp: bit i for step i */
	uint8_t victim;   /* in a set's first home: the way the next home goes to */
	/* the fps, read only when a step's CFA (or s[j]'s registers) depends on them */
	uintptr_t fp_at[CFI_HOME_STEPS] __attribute__((aligned(64))); /* 0: fp unchanged */
	uintptr_t fp[CFI_HOME_STEPS]; /* fp at level i, checked when step i's CFA came from it */
};

/* Homes go in sets of two by their registers: a function that allocates may be called from
 * several places at one sp, and each caller needs its own home (python3 churn: 81 % of walks by a
 * home with 256 one to a set, 91 % in sets of two; prog_unwindmix calls one frame from three). */
static inline struct cfi_home *cfi_home_set(struct cfi_home *homes, uintptr_t pc, uintptr_t sp)
{
	return &homes[((pc ^ (sp << 16)) * 0x9e3779b97f4a7c15ull) >> (64 - CFI_HOME_LOG2) & ~1ull];
}

/* Whether the walk from (pc, sp, fp), the program's first frame, reaches s[h->j] by home h: its
 * words still hold what the home's steps read. Then the frames the steps put out go to
 * out[*n..], and *n and *raw count them. The loads do not wait on each other: one branch at the
 * end. The reads need no bounds (they were inside [the step's sp, hi) when taken; this walk's sp
 * is at or below sp0). */
static inline __attribute__((always_inline)) bool
cfi_home_reaches(const struct cfi_home *h, const struct cfi_step *s, uint32_t top, uintptr_t pc,
		 uintptr_t sp, uintptr_t fp, uint64_t *out, int *n, int *raw)
{
	const uint32_t q = h->q;
	if (h->pc0 != pc || h->sp0 != sp || h->j == 0 || h->j > top)
		return false;
	const struct cfi_step *e = &s[h->j];
	uintptr_t diff = (e->pc ^ h->pc[q - 1]) | (e->sp ^ h->sp_end);
	for (uint32_t i = 0; i < q; i++)
		diff |= *(const uintptr_t *)h->ra_at[i] ^ h->pc[i];
	if (preload_unlikely(h->on_fp || (e->flags & CFI_STEP_FP_MATTERS))) {
		/* fp as the steps carry it, where it decides a CFA */
		uintptr_t f = fp;
		for (uint32_t i = 0; i < q; i++) {
			if (h->on_fp >> i & 1)
				diff |= f ^ h->fp[i];
			f = h->fp_at[i] ? *(const uintptr_t *)h->fp_at[i] : f;
		}
		diff |= (e->fp ^ f) & cfi_fp_mask(e);
	}
	if (diff != 0)
		return false;
	/* every pc of the home's steps is kept; the last, s[j]'s, as s[j] says */
	int m = *n;
	for (uint32_t i = 0; i < q; i++)
		out[m++] = h->pc[i];
	*n = m - (int)!e->kept;
	*raw += (int)q;
	return true;
}

/* The trie node of a walk by home h that joined s[h->j] (named) and followed the trail to its
 * end: kept in the home for the trie generation and the parent node it was named under. */
static inline uint32_t cfi_home_node(struct cfi_home *h, struct stack_trie *trie, uint32_t parent,
				     uintptr_t pc0)
{
	if (h->gen == trie->gen && h->parent_node == parent && h->node != STACK_TRIE_ROOT)
		return h->node;
	uint32_t node = parent;
	for (uint32_t i = h->q - 1; i-- > 0;)
		node = stack_trie_child(trie, node, h->pc[i]);
	node = stack_trie_child(trie, node, pc0);
	h->gen = trie->gen;
	h->parent_node = parent;
	h->node = node;
	h->stack = trie->node[node].stack;
	return node;
}

/* After a walk that took its own steps in[0..q) from the program's first frame and then joined
 * the trail at s[j] (stored now): its home, when every step is one it may keep. */
static void cfi_home_keep(struct cfi_home *homes, const struct cfi_trail *tr, uint32_t j,
			  const struct cfi_step *in, uint32_t q, uint32_t gen)
{
	if (q == 0 || q > CFI_HOME_STEPS || j == 0)
		return;
	for (uint32_t i = 0; i < q; i++)
		if (!in[i].kept)
			return;
	struct cfi_home *set = cfi_home_set(homes, in[0].pc, in[0].sp), *h = &set[set->victim & 1];
	set->victim ^= 1;
	h->pc0 = in[0].pc;
	h->sp0 = in[0].sp;
	h->sp_end = tr->s[j].sp;
	h->on_fp = 0;
	for (uint32_t i = 0; i < q; i++) {
		h->ra_at[i] = in[i].ra_at;
		h->fp_at[i] = in[i].fp_at;
		h->pc[i] = i + 1 < q ? in[i + 1].pc : tr->s[j].pc;
		h->fp[i] = in[i].fp;
		h->on_fp |= (uint8_t)(((in[i].flags & CFI_STEP_ON_FP) != 0) << i);
	}
	h->q = (uint8_t)q;
	h->j = j;
	h->gen = gen;
	h->parent_node = tr->s[j].node;
	h->node = tr->s[tr->top].node;
	h->stack = MEMTOP_STACK_NONE; /* the capture interns the walk's frames after the walk */
}

#endif
