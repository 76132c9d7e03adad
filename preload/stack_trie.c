/* A thread's walked stacks as paths of a trie, so that a walk names its stack without hashing and
 * comparing every frame: a node is (parent node, return address), the root is the outside of the
 * stack, and a stack is the node of its innermost frame. Each node caches the stack id its path was
 * interned as in the segment. The trail (cfi_walk.c) keeps each step's node, so a walk that joins
 * it looks up only its own new frames (the lookup's first probe is inline, cfi.h).
 * One writer: the thread's captures, which never nest. Never allocates (the table lives in the
 * thread's walk memory); a table nearly full is emptied before a walk. */
#include <string.h>

#include "cfi.h"

#define TRIE_SLOTS (1u << STACK_TRIE_LOG2)

bool stack_trie_reset(struct stack_trie *tr, uint64_t binding)
{
	/* A new segment (a fork child's) numbers its stacks anew; a full table starts over. The
	 * nodes a trail holds are void from now on: the caller forgets them. */
	memset(tr->node, 0, sizeof tr->node);
	tr->used = 0;
	tr->gen++;
	tr->binding = binding;
	return true;
}

/* The probe from slot on: the node of (parent, pc), or a new one in the first empty slot. */
uint32_t stack_trie_add(struct stack_trie *tr, uint32_t slot, uint32_t parent, uint64_t pc)
{
	for (uint32_t i = slot;; i = (i + 1) & (TRIE_SLOTS - 1)) {
		struct stack_trie_node *nd = &tr->node[i];
		if (i == STACK_TRIE_ROOT)
			continue;
		if (nd->pc == pc && nd->parent == parent)
			return i;
		if (nd->pc == 0) { /* pcs put out are >= CFI_PC_MIN: 0 is an empty slot */
			nd->pc = pc;
			nd->parent = parent;
			nd->stack = MEMTOP_STACK_NONE;
			tr->used++;
			return i;
		}
	}
}
