/* rel_segtool: damages a live memtop segment from outside, the way a crashed or hostile target could,
 * so that the reliability suite can check that the monitor neither crashes nor hangs nor believes it.
 * Test tool only: it writes into /dev/shm/memtop.<pid> directly and must never be used on a real run.
 * usage: rel_segtool truncate PID BYTES
 *        rel_segtool scribble PID MS SEED      (random bytes at random offsets for MS milliseconds)
 *        rel_segtool forge-pid PID NEWPID | forge-start PID DELTA | forge-magic PID
 *        rel_segtool chown PID UID
 *        rel_segtool forge-dup PID ADDR   (two allocations of ADDR pushed through the target's ring
 *                                          once a monitor holds it: a free the monitor never saw) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "memtop/segment.h"
#include "shm.h"

static int open_segment(const char *pid, struct stat *st)
{
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/memtop.%s", pid);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st) != 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void *map_segment(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Random bytes at random places, biased towards the header and the ring (what a monitor reads). */
static void scribble(unsigned char *base, size_t len, long ms, uint64_t seed)
{
	uint64_t end = now_ms() + (uint64_t)ms, writes = 0;
	while (now_ms() < end) {
		for (int i = 0; i < 1000; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t r = seed >> 11;
			size_t off;
			switch (r & 3) {
			case 0: off = (r >> 2) % sizeof(struct memtop_seg_header); break;
			default: off = (r >> 2) % len; break;
			}
			size_t n = 1 + (r >> 40) % 16;
			for (size_t k = 0; k < n && off + k < len; k++) {
				seed = seed * 6364136223846793005ull + 1;
				base[off + k] = (unsigned char)(seed >> 56);
			}
			writes++;
		}
		usleep(1000);
	}
	printf("scribbled %llu writes\n", (unsigned long long)writes);
}

/* Pushes two allocations of addr through the target's own ring, as if the free between them were
 * lost: the monitor must count a duplicate allocation. Waits (5 s at most) for a monitor to hold the
 * claim: without one the ring takes nothing. */
static int forge_duplicate(pid_t pid, uint64_t addr)
{
	struct shm_segment seg;
	char err[256];
	if (shm_segment_open(&seg, pid, false, err, sizeof err) != 0) {
		fprintf(stderr, "rel_segtool: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 500 && !shm_consumer_present(&seg); i++)
		usleep(10000);
	struct memtop_event ev = {.type = MEMTOP_EV_MALLOC,
				  .thread_slot = (uint16_t)(seg.threads_count - 1),
				  .timestamp_ns = shm_now_ns(), .addr = addr, .size = 64};
	for (int i = 0; i < 2; i++)
		if (shm_ring_push(&seg, &ev) != SHM_PUSHED) {
			fprintf(stderr, "rel_segtool: the ring refused the forged event (no monitor?)\n");
			return 1;
		}
	shm_segment_close(&seg, false);
	printf("forged 2 allocations of 0x%llx\n", (unsigned long long)addr);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: rel_segtool truncate|scribble|forge-pid|forge-start|forge-magic|chown|"
			"forge-dup PID ARG\n");
		return 2;
	}
	const char *op = argv[1];
	if (!strcmp(op, "forge-dup"))
		return forge_duplicate((pid_t)atoi(argv[2]), strtoull(argv[3], NULL, 0));
	struct stat st;
	int fd = open_segment(argv[2], &st);
	if (!strcmp(op, "truncate")) {
		if (ftruncate(fd, (off_t)atoll(argv[3])) != 0) {
			perror("ftruncate");
			return 1;
		}
		return 0;
	}
	if (!strcmp(op, "chown")) {
		if (fchown(fd, (uid_t)atoi(argv[3]), (gid_t)-1) != 0) {
			perror("fchown");
			return 1;
		}
		return 0;
	}
	unsigned char *base = map_segment(fd, (size_t)st.st_size);
	struct memtop_seg_header *h = (void *)base;
	if (!strcmp(op, "scribble"))
		scribble(base, (size_t)st.st_size, atol(argv[3]), strtoull(argv[4 < argc ? 4 : 3], NULL, 10));
	else if (!strcmp(op, "forge-pid"))
		__atomic_store_n(&h->pid, atoi(argv[3]), __ATOMIC_RELAXED);
	else if (!strcmp(op, "forge-start"))
		__atomic_add_fetch(&h->start_time, strtoull(argv[3], NULL, 10), __ATOMIC_RELAXED);
	else if (!strcmp(op, "forge-magic"))
		__atomic_store_n(&h->magic, 0x0123456789abcdefull, __ATOMIC_RELAXED);
	else {
		fprintf(stderr, "rel_segtool: unknown operation %s\n", op);
		return 2;
	}
	return 0;
}
