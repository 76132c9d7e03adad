/* Unit tests of the injector's ELF lookups (monitor/inject/inject_elf.c) on this very process:
 * the addresses it computes from /proc/self/maps and the files on disk must be the loader's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <elf.h>
#include <string.h>
#include <unistd.h>

#include "inject/inject_arch.h"
#include "inject/inject_elf.h"

static void *libc_handle(void)
{
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	assert_non_null(h);
	return h;
}

/* "libc" is libc.so.6, never libcmocka.so (linked into this test) */
static void test_find_libc(void **state)
{
	(void)state;
	struct inject_object o;
	assert_int_equal(inject_find_object(getpid(), "libc", &o), 0);
	const char *base = strrchr(o.path, '/');
	assert_non_null(base);
	assert_true(strncmp(base + 1, "libc.so", 7) == 0 || strncmp(base + 1, "libc-", 5) == 0);
	assert_true(o.lo < o.hi);
	assert_int_equal(inject_find_object(getpid(), "libnothing-such", &o), -1);
}

/* malloc and dlopen (two versions in glibc 2.34+: the default one is taken) where dlsym says */
static void test_symbols_match_loader(void **state)
{
	(void)state;
	struct inject_object o;
	uint64_t addr = 0;
	void *h = libc_handle();
	assert_int_equal(inject_find_object(getpid(), "libc", &o), 0);
	const char *names[] = {"malloc", "free", "dlopen", "dlerror"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *want = dlsym(h, names[i]);
		if (!want)
			continue; /* dlopen/dlerror live in libdl before glibc 2.34 */
		assert_int_equal(inject_symbol(getpid(), &o, names[i], &addr), 0);
		assert_int_equal(addr, (uint64_t)(uintptr_t)want);
		assert_true(inject_object_contains(&o, addr));
	}
	assert_int_equal(inject_symbol(getpid(), &o, "no_such_function_here", &addr), -1);
	dlclose(h);
}

static void test_exe_kind(void **state)
{
	(void)state;
	int machine = 0, elfclass = 0;
	bool dynamic = false;
	assert_int_equal(inject_exe_kind(getpid(), &machine, &elfclass, &dynamic), 0);
	assert_int_equal(elfclass, ELFCLASS64);
	assert_true(dynamic);
#if defined(__x86_64__)
	assert_int_equal(machine, EM_X86_64);
	assert_int_equal(inject_arch_machine(), EM_X86_64);
#endif
	assert_int_equal(inject_exe_kind(2147483600, &machine, &elfclass, &dynamic), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_libc),
		cmocka_unit_test(test_symbols_match_loader),
		cmocka_unit_test(test_exe_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
