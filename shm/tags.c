/* The tag table: names given by memtop_tag() in the target, referenced by TAG events by id.
 * TARGET registers (append-only, allocation-free); MONITOR reads by id, guarded. */
#include <string.h>

#include "guard.h"
#include "internal.h"

uint32_t shm_tag_register(struct shm_segment *seg, const char *name, uint64_t now_ns)
{
	uint32_t idx = __atomic_fetch_add(&seg->hdr->tags_used, 1, __ATOMIC_RELAXED);
	if (idx >= seg->tags_cap)
		return 0;
	struct memtop_tag *t = &seg->tags[idx];
	size_t i = 0;
	for (; name && i < MEMTOP_TAG_NAME_MAX - 1 && name[i]; i++)
		t->name[i] = name[i];
	t->name[i] = '\0';
	t->timestamp_ns = now_ns;
	__atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
	return idx + 1;
}

int shm_tag_read(struct shm_segment *seg, uint32_t id, struct memtop_tag *out)
{
	if (id == 0 || id > seg->tags_cap)
		return -1;
	volatile int rc = 0;
	SHM_GUARD_BEGIN {
		const struct memtop_tag *t = &seg->tags[id - 1];
		if (__atomic_load_n(&t->ready, __ATOMIC_ACQUIRE) != 1) {
			rc = -1;
		} else {
			memcpy(out, t, sizeof *out);
			out->name[MEMTOP_TAG_NAME_MAX - 1] = '\0';
		}
	} SHM_GUARD_FAIL {
		rc = -1;
	} SHM_GUARD_END;
	return rc;
}
