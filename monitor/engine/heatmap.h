/* heatmap: the live set against the target's memory map (model_maps_compute in session/queries.c). */
#ifndef MEMTOP_HEATMAP_H
#define MEMTOP_HEATMAP_H

#include <sys/types.h>

#include "engine/liveset.h"
#include "model.h"

/* One walk of ls against /proc/PID/smaps; NULL when the maps cannot be read. */
struct model_maps *heatmap_compute(pid_t pid, struct liveset *ls, uint32_t divisions);

#endif
