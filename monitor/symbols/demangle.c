/* demangle: one call into libstdc++'s demangler (the C++ ABI's __cxa_demangle, declared here as
 * the monitor is C). Never demangles what does not start with _Z: "i" alone would read as "int". */
#include "symbols/demangle.h"

#include <stdlib.h>
#include <string.h>

#ifdef MEMTOP_HAVE_CXA_DEMANGLE
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);
#endif

char *symbols_demangle(const char *name)
{
	if (!name || strncmp(name, "_Z", 2) != 0)
		return NULL;
#ifdef MEMTOP_HAVE_CXA_DEMANGLE
	int status = -1;
	char *out = __cxa_demangle(name, NULL, NULL, &status);
	if (status == 0 && out)
		return out;
	free(out);
#endif
	return NULL;
}
