/* walk: helpers shared by the walk, suspects and snapshot code (see walk.c). */
#ifndef MEMTOP_WALK_H
#define MEMTOP_WALK_H

#include "engine/liveset.h"
#include "model.h"

uint32_t walk_now_ms(void);
/* Walks any live set (tests/unit/monitor/test_walk.c uses one without a session). */
struct model_walk *walk_liveset(struct liveset *ls, const struct model_walk_filter *f,
				uint64_t mark_seq);
/* The same with 4-byte references to pinned blocks (model_walk_open_compact). */
struct model_walk *walk_liveset_compact(struct liveset *ls, const struct model_walk_filter *f,
					uint64_t mark_seq);
/* Groups the blocks of a walk by stack id, sorted by bytes desc then stack id. */
size_t walk_group_by_site(const struct model_walk *w, struct model_suspect_site **out);

#endif
