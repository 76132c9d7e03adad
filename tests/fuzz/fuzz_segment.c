/* libFuzzer harness for the MONITOR's view of an untrusted segment: shm_segment_validate on the
 * fuzzed image, then, when it passes, every bounds-checked reader (ring pop, shm_event_check,
 * stack/thread/tag reads, totals) over it. Any out-of-bounds read is a bug in shm/.
 * Input: byte 0 selects fix-ups that get past the identity checks; the rest is the image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
	FIX_IDENTITY = 1 << 0, /* magic, ABI, header size, segment size made right */
	FIX_EXE = 1 << 1,      /* exe path terminated, pid positive */
};

static void fix_up(struct memtop_seg_header *h, size_t size, uint8_t fix)
{
	if (fix & FIX_IDENTITY) {
		h->magic = MEMTOP_SEG_MAGIC;
		h->abi_version = MEMTOP_ABI_VERSION;
		h->header_size = sizeof *h;
		h->segment_size = size;
	}
	if (fix & FIX_EXE) {
		h->exe[MEMTOP_EXE_MAX - 1] = '\0';
		if (h->pid <= 0)
			h->pid = 1;
	}
}

static void read_everything(struct shm_segment *seg)
{
	static struct memtop_event out[64];
	static uint64_t frames[MEMTOP_MAX_DEPTH + 1];
	struct memtop_thread_slot slot;
	struct memtop_tag tag;
	struct memtop_counters totals;
	struct memtop_seg_header hdr;

	shm_header_read(seg, &hdr);
	shm_totals(seg, &totals);
	for (uint32_t i = 0; i < seg->threads_count && i < 4096; i++)
		shm_thread_read(seg, i, &slot);
	shm_thread_read(seg, seg->threads_count, &slot);
	for (uint32_t id = 0; id < seg->stacks_cap && id < 4096; id++)
		shm_stack_read(seg, id, frames, MEMTOP_MAX_DEPTH);
	shm_stack_read(seg, seg->stacks_cap, frames, MEMTOP_MAX_DEPTH);
	shm_stack_read(seg, hdr.stacks_used, frames, MEMTOP_MAX_DEPTH);
	for (uint32_t id = 0; id <= seg->tags_cap + 1 && id < 4096; id++)
		shm_tag_read(seg, id, &tag);

	/* Pop from wherever the image says the consumer stopped, as a replacing monitor would. */
	for (uint32_t k = 0; k < seg->lanes; k++)
		seg->lane[k].tail = hdr.lanes[k].tail;
	for (uint32_t round = 0; round <= seg->ring_cap / 64 + 2; round++) {
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(seg, out, 64, &n);
		for (size_t k = 0; k < n; k++) {
			if (shm_event_check(seg, &out[k]))
				continue;
			/* a record that passed the check may be used to index everything it names */
			if (out[k].stack_id != MEMTOP_STACK_NONE && out[k].stack_id != MEMTOP_STACK_OVERFLOW &&
			    shm_stack_read(seg, out[k].stack_id, frames, MEMTOP_MAX_DEPTH) > MEMTOP_MAX_DEPTH)
				abort();
			if (shm_thread_read(seg, out[k].thread_slot, &slot) != 0)
				abort(); /* checked slot, plain memory: must be readable */
			if (out[k].type == MEMTOP_EV_TAG)
				shm_tag_read(seg, (uint32_t)out[k].aux, &tag);
		}
		if (st == SHM_POP_PENDING)
			shm_ring_skip(seg);
		else if (st != SHM_POP_OK)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t fix = data[0];
	size_t len = size - 1;
	/* The segment is page-aligned in real life; 64 is what the header's alignment needs. Exact
	 * length (posix_memalign has no size-multiple rule), so ASan sees any read past the image. */
	void *img = NULL;
	if (posix_memalign(&img, 64, len ? len : 1))
		return 0;
	memcpy(img, data + 1, len);
	if (len >= sizeof(struct memtop_seg_header))
		fix_up(img, len, fix);
	char err[256];
	err[0] = '\1';
	int rc = shm_segment_validate(img, len, err, sizeof err);
	if (rc != 0 && (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0' || err[0] == '\1'))
		abort(); /* a rejection always says why, in a terminated string */
	if (rc == 0) {
		struct shm_segment seg;
		memset(&seg, 0, sizeof seg);
		shm_segment_bind(&seg, img, len, img);
		seg.fd = -1;
		read_everything(&seg);
	}
	free(img);
	return 0;
}
