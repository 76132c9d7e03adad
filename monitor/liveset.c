/* liveset: lock-free hash of live blocks keyed by address; single writer, many RCU readers.
 * Never frees a block a reader might still see: removals are retired in batches through call_rcu. */
#include "liveset.h"

#include <errno.h>
#include <stdlib.h>

#define RETIRE_BATCH 4096

struct liveset_retire {
	struct rcu_head rcu;
	size_t n;
	struct liveset_block *blocks[RETIRE_BATCH];
};

/* Addresses are aligned and clustered: mix all bits (murmur3 finaliser) for the split-ordered list. */
static inline unsigned long liveset_hash(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	a *= 0xc4ceb9fe1a85ec53ULL;
	a ^= a >> 33;
	return (unsigned long)a;
}

static int liveset_match(struct cds_lfht_node *node, const void *key)
{
	const struct liveset_block *b = caa_container_of(node, struct liveset_block, node);
	return b->addr == *(const uint64_t *)key;
}

int liveset_init(struct liveset *ls)
{
	ls->count = 0;
	ls->retire = NULL;
	ls->ht = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	return ls->ht ? 0 : -ENOMEM;
}

struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *src)
{
	struct liveset_block *b = malloc(sizeof(*b));
	if (!b)
		return NULL;
	*b = *src;
	cds_lfht_node_init(&b->node);
	cds_lfht_add(ls->ht, liveset_hash(b->addr), &b->node);
	ls->count++;
	return b;
}

struct liveset_block *liveset_lookup(struct liveset *ls, uint64_t addr)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(ls->ht, liveset_hash(addr), liveset_match, &addr, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct liveset_block, node) : NULL;
}

static void liveset_free_batch(struct rcu_head *head)
{
	struct liveset_retire *r = caa_container_of(head, struct liveset_retire, rcu);
	for (size_t i = 0; i < r->n; i++)
		free(r->blocks[i]);
	free(r);
}

void liveset_flush_retired(struct liveset *ls)
{
	if (ls->retire && ls->retire->n) {
		urcu_memb_call_rcu(&ls->retire->rcu, liveset_free_batch);
		ls->retire = NULL;
	}
}

void liveset_remove(struct liveset *ls, struct liveset_block *b)
{
	cds_lfht_del(ls->ht, &b->node);
	ls->count--;
	if (!ls->retire) {
		ls->retire = malloc(sizeof(*ls->retire));
		if (!ls->retire)
			return; /* no memory to defer the free: leak this block rather than race readers */
		ls->retire->n = 0;
	}
	ls->retire->blocks[ls->retire->n++] = b;
	if (ls->retire->n == RETIRE_BATCH)
		liveset_flush_retired(ls);
}

void liveset_destroy(struct liveset *ls)
{
	if (!ls->ht)
		return;
	struct cds_lfht_iter it;
	struct liveset_block *b;
	urcu_memb_read_lock();
	cds_lfht_for_each_entry(ls->ht, &it, b, node) {
		cds_lfht_del(ls->ht, &b->node);
		free(b);
	}
	urcu_memb_read_unlock();
	liveset_flush_retired(ls);
	urcu_memb_barrier();
	cds_lfht_destroy(ls->ht, NULL);
	ls->ht = NULL;
	ls->count = 0;
}
