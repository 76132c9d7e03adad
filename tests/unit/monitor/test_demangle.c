/* Unit test of C++ demangling: Itanium names become readable, anything else (C names, a bare
 * type code, a broken mangling) is left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "symbols/demangle.h"

static void expect(const char *in, const char *out)
{
	char *got = symbols_demangle(in);
	if (!out) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, out);
	free(got);
}

static void test_demangle(void **state)
{
	(void)state;
	expect("_Znwm", "operator new(unsigned long)");
	expect("_ZN2ns4growEi", "ns::grow(int)");
	expect("_Z22get_combined_adhoc_locP9line_mapsj",
	       "get_combined_adhoc_loc(line_maps*, unsigned int)");
	expect("malloc", NULL);
	expect("i", NULL);      /* a type code alone is not a function name */
	expect("_Z", NULL);     /* broken */
	expect("_Zxyz", NULL);
	expect(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_demangle)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
