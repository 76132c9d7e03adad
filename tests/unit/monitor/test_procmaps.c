/* Unit tests of the /proc parsers and the heatmap arithmetic (fixtures, no live process needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "proc/procmaps.h"

static const char *SMAPS =
	"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n"
	"Size:                132 kB\n"
	"Rss:                  48 kB\n"
	"Pss:                  48 kB\n"
	"7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
	"Size:               1024 kB\n"
	"Rss:                 512 kB\n"
	"7f1000000000-7f1000001000 r-xp 00002000 fe:00 1234                       /usr/lib/a lib.so\n"
	"Rss:                   4 kB\n"
	"garbage line that is not a mapping\n"
	"7fffff000000-7ffffe000000 rw-p 00000000 00:00 0  [bad: end < start]\n";

static void test_parse_smaps(void **state)
{
	(void)state;
	struct procmaps_entry *e;
	ssize_t n = procmaps_parse(SMAPS, &e);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].name, "[heap]");
	assert_int_equal(e[0].rss_kib, 48);
	assert_int_equal(e[0].start, 0x55d0c0a00000ull);
	assert_string_equal(e[1].name, "");
	assert_int_equal(e[1].rss_kib, 512);
	assert_string_equal(e[1].perms, "rw-p");
	assert_string_equal(e[2].name, "/usr/lib/a lib.so"); /* spaces in paths survive */
	assert_int_equal(e[2].offset, 0x2000);
	assert_int_equal(e[2].inode, 1234);
	assert_int_equal(procmaps_find(e, (size_t)n, 0x55d0c0a00010ull), 0);
	assert_int_equal(procmaps_find(e, (size_t)n, 0x7f00000fffffull), 1);
	assert_int_equal(procmaps_find(e, (size_t)n, 0x7f0000100000ull), -1);
	assert_int_equal(procmaps_find(e, (size_t)n, 0x1000), -1);
	free(e);
}

static void test_spread_sums_exact(void **state)
{
	(void)state;
	uint64_t heat[32];
	memset(heat, 0, sizeof heat);
	uint64_t start = 0x10000, end = 0x10000 + 32 * 4096 + 100; /* not a multiple of 32 */
	uint64_t total = 0;
	/* blocks anywhere, including one spilling past the end */
	uint64_t blocks[][2] = {{0x10000, 10}, {0x10000 + 4095, 2}, {0x10000 + 5 * 4096, 3 * 4096},
				{end - 8, 64}, {0x10000 + 31 * 4096, 4096 + 100}};
	for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
		procmaps_spread(start, end, 32, blocks[i][0], blocks[i][1], heat);
		total += blocks[i][1];
	}
	uint64_t sum = 0;
	for (int d = 0; d < 32; d++)
		sum += heat[d];
	assert_int_equal(sum, total);
	assert_true(heat[0] >= 10);
	assert_true(heat[5] > 0 && heat[6] > 0 && heat[7] > 0);
	assert_int_equal(heat[10], 0);
}

static void test_resident_self(void **state)
{
	(void)state;
	/* our own stack page is resident */
	volatile char probe[64] = {1};
	uint64_t a = (uint64_t)(uintptr_t)probe & ~4095ull;
	uint8_t res[1];
	if (procmaps_resident(getpid(), a, a + 4096, 1, res) == 0)
		assert_int_equal(res[0], 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_smaps),
		cmocka_unit_test(test_spread_sums_exact),
		cmocka_unit_test(test_resident_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
