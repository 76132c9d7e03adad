/* Unit test of the symbol index (symbols/symindex.c): on real files, every lookup must name what
 * libdwfl's own scanning dwfl_module_addrinfo names (both NULL included). Addresses: each symbol's
 * first, second and last byte and one past its end, plus evenly spread ones across each module.
 * Files: this test program (.symtab, locals and globals), libc (.dynsym only on Debian, aliases and
 * weak symbols), /usr/bin/python3 (stripped: .dynsym only) and gcc's cc1 when installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/symindex.h"

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static unsigned long checked, differ, differ_here;

static void check_addr(Dwfl_Module *mod, const struct symindex *ix, GElf_Addr addr)
{
	GElf_Sym sym;
	GElf_Off off;
	const char *want = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	const char *got = symindex_lookup(ix, addr);
	checked++;
	if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0)) {
		differ++;
		if (differ_here++ < 10)
			print_message("# %#lx: libdwfl %s, index %s\n", (unsigned long)addr,
				      want ? want : "(none)", got ? got : "(none)");
	}
}

/* Compares the index with libdwfl over one module; limit bounds the symbols visited (libdwfl
 * scans the whole table per lookup: a big stripped binary would take minutes). */
static void check_module(Dwfl_Module *mod, int limit)
{
	struct symindex *ix = symindex_build(mod);
	int n = dwfl_module_getsymtab(mod);
	if (!ix) {
		assert_true(n <= 0);
		return;
	}
	int step = n > limit ? n / limit : 1;
	for (int i = 1; i < n; i += step) {
		GElf_Sym s;
		GElf_Addr a;
		if (!dwfl_module_getsym_info(mod, i, &s, &a, NULL, NULL, NULL) || s.st_shndx == SHN_UNDEF)
			continue;
		check_addr(mod, ix, a);
		check_addr(mod, ix, a + 1);
		if (s.st_size > 1)
			check_addr(mod, ix, a + s.st_size - 1);
		check_addr(mod, ix, a + s.st_size);
	}
	Dwarf_Addr lo, hi;
	dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
	for (int k = 0; k < 300 && hi > lo; k++)
		check_addr(mod, ix, lo + (hi - lo) / 300 * (GElf_Addr)k + (GElf_Addr)k % 7);
	symindex_free(ix);
}

static void check_file(const char *path, int limit)
{
	Dwfl *dwfl = dwfl_begin(&callbacks);
	assert_non_null(dwfl);
	dwfl_report_begin(dwfl);
	Dwfl_Module *mod = dwfl_report_offline(dwfl, path, path, -1);
	dwfl_report_end(dwfl, NULL, NULL);
	assert_non_null(mod);
	unsigned long before = checked;
	differ_here = 0;
	check_module(mod, limit);
	print_message("# %s: %lu addresses, %lu differ\n", path, checked - before, differ_here);
	dwfl_end(dwfl);
}

static void test_own_program(void **state)
{
	(void)state;
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(len > 0);
	self[len] = 0;
	check_file(self, 100000);
	assert_int_equal(differ, 0);
}

static void test_system_files(void **state)
{
	(void)state;
	const char *files[] = {"/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/python3",
			       "/usr/lib/gcc/x86_64-linux-gnu/12/cc1"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (access(files[i], R_OK) == 0)
			check_file(files[i], 600);
		else
			print_message("# %s: not here, skipped\n", files[i]);
	assert_int_equal(differ, 0);
}

int main(void)
{
	setenv("DEBUGINFOD_URLS", "", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_program),
		cmocka_unit_test(test_system_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
