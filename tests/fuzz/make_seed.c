/* Writes the fuzzer's seed corpus: real segment images (small geometry) holding threads, stacks,
 * tags and ring records, prefixed with the harness's fix-up byte. Test tool only; it creates and
 * always unlinks its own /memtop.<pid>. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

static int write_seed(const char *dir, const char *name, uint8_t fix, const void *img, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(&fix, 1, 1, f) == 1 && fwrite(img, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seed CORPUS_DIR\n");
		return 2;
	}
	struct shm_config cfg;
	struct shm_segment seg;
	char err[256];
	shm_config_defaults(&cfg);
	cfg.ring_cap = SHM_RING_MIN;
	cfg.stacks_cap = SHM_STACKS_MIN;
	cfg.threads = 4;
	cfg.max_depth = 8;
	cfg.block_ms = 0; /* a full lane drops at once */
	if (shm_segment_create(&seg, &cfg, getpid(), err, sizeof err)) {
		fprintf(stderr, "make_seed: %s\n", err);
		return 1;
	}
	int rc = write_seed(argv[1], "empty", 0, seg.base, seg.size);
	pid_t holder;
	shm_consumer_claim(&seg, &holder);
	uint16_t slot = shm_thread_claim(&seg, 42, "main");
	uint64_t frames[8] = {0x401000, 0x401100, 0x401200, 0x401300, 0x401400, 0x401500, 0x401600, 0x401700};
	uint32_t tag = shm_tag_register(&seg, "phase", 7);
	for (uint32_t i = 0; i < seg.ring_cap - 5; i++) {
		struct memtop_event ev;
		memset(&ev, 0, sizeof ev);
		ev.type = (uint8_t)(1 + i % (MEMTOP_EV_TYPE_MAX - 1));
		ev.thread_slot = slot;
		ev.stack_id = shm_stack_intern(&seg, frames, 1 + i % 8);
		ev.addr = 0x600000 + ((uint64_t)(i % 4) << SHM_LANE_REGION_SHIFT) + i * 32; /* 4 lanes */
		ev.size = i;
		ev.aux = ev.type == MEMTOP_EV_TAG ? tag : 0;
		if (ev.type == MEMTOP_EV_REALLOC_END) { /* a move to another lane, END first */
			ev.aux = ev.addr + (1ull << SHM_LANE_REGION_SHIFT);
			ev.flags = MEMTOP_EVF_SPLIT;
			ev.link = i;
		}
		shm_ring_push(&seg, &ev);
		seg.threads[slot].c.allocs++;
	}
	uint64_t t;
	shm_ring_reserve(&seg, shm_lane_of(&seg, 0x600000), &t); /* one pending ticket */
	rc |= write_seed(argv[1], "busy", 0, seg.base, seg.size);
	rc |= write_seed(argv[1], "busy-fixed", 3, seg.base, seg.size);
	seg.hdr->barrier_released = 2; /* the first tags' copies are stale: a consumer died mid-release */
	rc |= write_seed(argv[1], "busy-released", 0, seg.base, seg.size);
	seg.hdr->barrier_released = 0;
	rc |= write_seed(argv[1], "header-only", 1, seg.base, sizeof(struct memtop_seg_header) + 64);
	shm_segment_close(&seg, true);
	if (rc)
		fprintf(stderr, "make_seed: cannot write the corpus in %s\n", argv[1]);
	return rc ? 1 : 0;
}
