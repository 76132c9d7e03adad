/* Declarations shared between the files of shm/ only. */
#ifndef MEMTOP_SHM_INTERNAL_H
#define MEMTOP_SHM_INTERNAL_H

#include "shm.h"

/* Copies the geometry out of a validated (or freshly created) header h and derives region pointers
 * into the mapping at base. */
void shm_segment_bind(struct shm_segment *seg, void *base, size_t size,
		      const struct memtop_seg_header *h);

#endif
