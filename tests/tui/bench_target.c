/* bench_target: a target with a big heap for measuring the dashboard on a real engine: N live blocks
 * (default 1 000 000) spread over S distinct call stacks (default 50 000), built by recursing through
 * two functions along the bits of the stack number. Then it waits until killed. Benchmark-only. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define DEPTH 16

static void **blocks;
static size_t n_blocks;

static NOINLINE void path_zero(unsigned path, int depth, size_t size);
static NOINLINE void path_one(unsigned path, int depth, size_t size);

static NOINLINE void leaf(size_t size)
{
	blocks[n_blocks] = malloc(size);
	n_blocks++;
}

static void step(unsigned path, int depth, size_t size)
{
	if (depth == DEPTH)
		leaf(size);
	else if (path & (1u << (DEPTH - 1 - depth))) /* low bits nearest the leaf: they survive a depth limit */
		path_one(path, depth + 1, size);
	else
		path_zero(path, depth + 1, size);
}

static NOINLINE void path_zero(unsigned path, int depth, size_t size)
{
	step(path, depth, size);
	__asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays on the stack */
}

static NOINLINE void path_one(unsigned path, int depth, size_t size)
{
	step(path, depth, size);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	size_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	unsigned stacks = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 50000;
	blocks = malloc(total * sizeof *blocks);
	for (size_t i = 0; i < total; i++)
		step((unsigned)(i % stacks), 0, 16 + i % 64);
	/* Churn a little (the first 1000 blocks only) so that views keep changing while the dashboard
	 * draws, without moving the whole heap to one call site. */
	for (unsigned i = 0;; i++) {
		size_t k = (i * 7919u) % (total < 1000 ? total : 1000);
		free(blocks[k]);
		blocks[k] = malloc(16 + i % 64);
		if (i % 100 == 0)
			usleep(10000);
	}
}
