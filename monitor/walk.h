/* walk: helpers shared by the walk, suspects and snapshot code (see walk.c). */
#ifndef MEMTOP_WALK_H
#define MEMTOP_WALK_H

#include "liveset.h"
#include "model.h"

uint32_t walk_now_ms(void);
uint64_t walk_age_ns(uint32_t now_ms, uint32_t then_ms);
/* Walks any live set (unit tests use one without a session). size_hint: about how many blocks
 * (the published count: the set's own count belongs to its writer). */
struct model_walk *walk_liveset(struct liveset *ls, const struct model_walk_filter *f,
				uint64_t mark_seq, size_t size_hint);
/* Groups the blocks of a walk by stack id, sorted by bytes desc then stack id. */
size_t walk_group_by_site(const struct model_walk *w, struct model_suspect_site **out);

#endif
