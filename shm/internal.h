/* Declarations shared between the files of shm/ only. */
#ifndef MEMTOP_SHM_INTERNAL_H
#define MEMTOP_SHM_INTERNAL_H

#include "shm.h"

/* Copies the geometry out of a validated (or freshly created) header and derives region pointers. */
void shm_segment_bind(struct shm_segment *seg, void *base, size_t size);

#endif
