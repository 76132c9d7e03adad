/* heatmap: the heap against the memory map (model_maps_compute): which mappings hold live blocks,
 * how much of their RSS is live heap, and where in each mapping the live bytes and resident pages
 * are. One walk of the live set per call; never called per refresh by the engine itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "engine/heatmap.h"
#include "proc/procmaps.h"
#include "shm.h"

static bool is_heap_candidate(const struct procmaps_entry *e)
{
	return strcmp(e->name, "[heap]") == 0 || (e->name[0] == '\0' && e->perms[0] == 'r' &&
						  e->perms[1] == 'w');
}

struct model_maps *heatmap_compute(pid_t pid, struct liveset *ls, uint32_t divisions)
{
	struct model_maps *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->taken_ns = shm_clock_ns(CLOCK_MONOTONIC);
	if (divisions == 0)
		divisions = MODEL_HEAT_DEFAULT;
	if (divisions > MODEL_HEAT_MAX)
		divisions = MODEL_HEAT_MAX;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	char *text = procmaps_read_file(path);
	struct procmaps_entry *e = NULL;
	ssize_t n = text ? procmaps_parse(text, &e) : -1;
	free(text);
	if (n <= 0) {
		m->target_gone = true;
		free(e);
		return m;
	}
	struct model_map_row *rows = calloc((size_t)n, sizeof(*rows));
	if (!rows) {
		free(e);
		return m;
	}
	for (ssize_t i = 0; i < n; i++)
		rows[i].divisions = divisions;
	struct liveset_iter it;
	struct liveset_block *b;
	urcu_memb_read_lock();
	liveset_read_begin();
	liveset_for_each(ls, &it, b) {
		ssize_t k = procmaps_find(e, (size_t)n, b->addr);
		if (k < 0)
			continue;
		rows[k].heap_bytes += b->size;
		rows[k].heap_blocks++;
		procmaps_spread(e[k].start, e[k].end, divisions, b->addr, b->size, rows[k].heat_bytes);
	}
	liveset_read_end();
	urcu_memb_read_unlock();
	size_t out = 0;
	m->pagemap_readable = true;
	for (ssize_t i = 0; i < n; i++) {
		if (!rows[i].heap_blocks && strcmp(e[i].name, "[heap]") != 0)
			continue;
		if (!rows[i].heap_blocks && !is_heap_candidate(&e[i]))
			continue;
		struct model_map_row *r = &rows[out];
		if (r != &rows[i])
			*r = rows[i];
		r->start = e[i].start;
		r->end = e[i].end;
		memcpy(r->perms, e[i].perms, sizeof r->perms);
		snprintf(r->name, sizeof r->name, "%s", e[i].name);
		r->size_kib = (e[i].end - e[i].start) / 1024;
		r->rss_kib = e[i].rss_kib;
		r->heap_pct_of_rss = r->rss_kib ? (double)r->heap_bytes * 100.0 / ((double)r->rss_kib * 1024.0)
						: 0.0;
		r->heat_resident_known =
			procmaps_resident(pid, r->start, r->end, divisions, r->heat_resident) == 0;
		if (!r->heat_resident_known)
			m->pagemap_readable = false;
		out++;
	}
	free(e);
	m->n_rows = out;
	m->rows = rows;
	m->priv = rows;
	return m;
}

/* Whether the target still runs, as the engine last published it (the state itself belongs to the
 * ingest thread). Before the first view, it is taken to run: /proc says otherwise if not. */

void model_maps_free(struct model_maps *m)
{
	if (!m)
		return;
	free(m->priv);
	free(m);
}
