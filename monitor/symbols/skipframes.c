/* skipframes: the allocator-wrapper test, one regexec per distinct resolved frame (symdb caches
 * the answer with the frame). Configured before threads start; after that only read. */
#include "symbols/skipframes.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char symbols_builtin_wrappers[] =
	"xmalloc|xcalloc|xrealloc|xzalloc|xstrdup|xstrndup|xmemdup|xasprintf|xvasprintf|"
	"g_malloc|g_malloc0|g_realloc|g_try_malloc|g_try_malloc0|g_try_realloc|g_malloc_n|"
	"g_malloc0_n|g_realloc_n|g_slice_alloc|g_slice_alloc0|g_strdup|g_strndup|g_memdup2?|"
	"zmalloc|zcalloc|zrealloc|zstrdup|zmalloc_usable|zcalloc_usable|zrealloc_usable|"
	"ztry(m|c|re)alloc(_usable)?(_internal)?|"
	"PyMem_[A-Za-z_]+|_PyMem_[A-Za-z_]+|_?PyObject_(Malloc|Calloc|Realloc)|_PyObject_GC_[A-Za-z_]+|"
	"pymalloc_[a-z_]+|"
	"operator new(\\[\\])?(\\(.*\\))?|"
	"strdup|strndup|__strdup|__strndup|asprintf|vasprintf|__vasprintf_internal";

/* the C++ library's own inline code (std::allocator, vector growth...): frames from its headers */
static const char cxx_headers[] = "/usr/include/c++/";

static regex_t builtin_re, user_re;
static bool builtin_ok, builtin_off, user_on;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static int compile_whole(regex_t *re, const char *alternatives)
{
	size_t n = strlen(alternatives) + 8;
	char *anchored = malloc(n);
	if (!anchored)
		return REG_ESPACE;
	snprintf(anchored, n, "^(%s)$", alternatives);
	int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	return rc;
}

static void builtin_compile(void)
{
	builtin_ok = compile_whole(&builtin_re, symbols_builtin_wrappers) == 0;
}

int symbols_skip_configure(const char *user_regex, bool no_builtin, char *err, size_t errlen)
{
	builtin_off = no_builtin;
	if (!user_regex)
		return 0;
	int rc = compile_whole(&user_re, user_regex);
	if (rc) {
		char why[128];
		regerror(rc, &user_re, why, sizeof why);
		snprintf(err, errlen, "--skip-frames '%s': %s", user_regex, why);
		return -1;
	}
	user_on = true;
	return 0;
}

static bool skip_inactive; /* atomic: zero (dropping) by default */

void symbols_skip_set_active(bool active)
{
	__atomic_store_n(&skip_inactive, !active, __ATOMIC_RELAXED);
}

bool symbols_skip_active(void)
{
	return !__atomic_load_n(&skip_inactive, __ATOMIC_RELAXED);
}

bool symbols_is_wrapper(const char *func, const char *file)
{
	if (user_on && func && regexec(&user_re, func, 0, NULL, 0) == 0)
		return true;
	if (builtin_off)
		return false;
	if (file && strncmp(file, cxx_headers, sizeof cxx_headers - 1) == 0)
		return true;
	pthread_once(&builtin_once, builtin_compile);
	return builtin_ok && func && regexec(&builtin_re, func, 0, NULL, 0) == 0;
}
