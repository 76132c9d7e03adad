/* symdb: libdwfl resolver for one address space described by /proc/PID/maps text (live or from a
 * snapshot), with an optional sysroot searched first for every file (offline symbolization of
 * stripped targets; elfutils 0.188 has no dwfl_set_sysroot) and debug files found by build-id.
 * Never resolves against a file whose build-id differs from the one a snapshot recorded. Debug
 * files with compressed sections are read from their decompressed copies (debugcache.h).
 * NOT thread-safe: one thread per db. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/buildid.h"
#include "symbols/debugcache.h"
#include "symbols/demangle.h"
#include "symbols/skipframes.h"
#include "symbols/symbols.h"
#include "symbols/symindex.h"

#define INTERN_BUCKETS 4096u
#define CACHE_BUCKETS 65536u

struct intern_node {
	struct intern_node *next;
	char s[];
};

struct cache_node {
	struct cache_node *next;
	const struct symdb_frames *fr; /* allocated with the node (fr points just past it) */
};

/* What find_elf did for one module (by path): the id a snapshot recorded, the file it took. */
struct symdb_module {
	struct symdb_module *next;
	const char *path;                /* interned */
	char expected[BUILDID_HEX_MAX];  /* "" when the snapshot recorded none */
	enum symdb_check check;
	char found_hex[BUILDID_HEX_MAX]; /* on a mismatch: the id of the first file tried ("" none) */
	char *found_path;                /* on a mismatch: that file (malloc'ed) */
};

struct symdb {
	Dwfl *dwfl;
	char *sysroot;
	struct symdb_module *modules;    /* newest first; few (one per mapped file) */
	struct intern_node *strings[INTERN_BUCKETS];
	struct cache_node *cache[CACHE_BUCKETS];
	symdb_intern_fn interner; /* when set, names are interned there instead of in strings */
	void *interner_ctx;
};

/* libdwfl's callbacks take no context: the db being used on this thread is kept here. Every entry
 * point that may call back (new, refresh, lookup) sets it, on the thread that owns that db. */
static __thread struct symdb *symdb_current;
static char *symdb_debuginfo_path;

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void symdb_set_interner(struct symdb *db, symdb_intern_fn fn, void *ctx)
{
	db->interner = fn;
	db->interner_ctx = ctx;
}

const char *symdb_intern(struct symdb *db, const char *str)
{
	if (!str)
		return NULL;
	if (db->interner)
		return db->interner(db->interner_ctx, str);
	uint64_t h = str_hash(str) % INTERN_BUCKETS;
	for (struct intern_node *n = db->strings[h]; n; n = n->next)
		if (strcmp(n->s, str) == 0)
			return n->s;
	size_t len = strlen(str);
	struct intern_node *n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memcpy(n->s, str, len + 1);
	n->next = db->strings[h];
	db->strings[h] = n;
	return n->s;
}

/* A function name as shown: C++ names demangled, then interned. */
static const char *symdb_intern_func(struct symdb *db, const char *name)
{
	char *readable = symbols_demangle(name);
	const char *out = symdb_intern(db, readable ? readable : name);
	free(readable);
	return out;
}

static struct symdb_module *symdb_module_get(struct symdb *db, const char *path, bool create)
{
	for (struct symdb_module *m = db->modules; m; m = m->next)
		if (m->path == path || strcmp(m->path, path) == 0) /* interned: usually the same pointer */
			return m;
	if (!create)
		return NULL;
	struct symdb_module *m = calloc(1, sizeof(*m));
	const char *interned = symdb_intern(db, path);
	if (!m || !interned) {
		free(m);
		return NULL;
	}
	m->path = interned;
	m->next = db->modules;
	db->modules = m;
	return m;
}

int symdb_expect_build_id(struct symdb *db, const char *path, const char *hex)
{
	if (!buildid_valid_hex(hex))
		return -1;
	struct symdb_module *m = symdb_module_get(db, path, true);
	if (!m)
		return -1;
	snprintf(m->expected, sizeof m->expected, "%s", hex);
	return 0;
}

enum symdb_check symdb_module_check(struct symdb *db, const char *path, const char **expected,
				    const char **found_hex, const char **found_path)
{
	struct symdb_module *m = path ? symdb_module_get(db, path, false) : NULL;
	if (!m)
		return SYMDB_UNCHECKED;
	if (expected)
		*expected = m->expected;
	if (found_hex)
		*found_hex = m->found_hex;
	if (found_path)
		*found_path = m->found_path ? m->found_path : "";
	return m->check;
}

/* Opens one candidate for a module; with a recorded build-id, only a file that has the same one.
 * Returns the fd, or -1 (a mismatch is noted in m for the first candidate that had one). */
static int symdb_try_candidate(struct symdb_module *m, const char *path)
{
	int fd = buildid_open_regular(path);
	if (fd < 0 || !m || !m->expected[0])
		return fd;
	char hex[BUILDID_HEX_MAX];
	if (buildid_of_fd(fd, hex) && strcmp(hex, m->expected) == 0)
		return fd;
	close(fd);
	if (m->check != SYMDB_MISMATCH) {
		m->check = SYMDB_MISMATCH;
		snprintf(m->found_hex, sizeof m->found_hex, "%s", hex);
		m->found_path = strdup(path);
	}
	return -1;
}

/* Opens sysroot+path first, then path itself; a file whose build-id differs from the one the
 * snapshot recorded is skipped, so that module stays unresolved rather than wrongly named. */
static int symdb_find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  char **file_name, Elf **elfp)
{
	(void)mod;
	(void)userdata;
	(void)base;
	*elfp = NULL;
	if (!modname || modname[0] != '/')
		return -1;
	struct symdb *db = symdb_current;
	struct symdb_module *m = db ? symdb_module_get(db, modname, true) : NULL;
	const char *root = db ? db->sysroot : NULL;
	char path[4096];
	int fd = -1;
	if (root && *root && (size_t)snprintf(path, sizeof path, "%s%s", root, modname) < sizeof path)
		fd = symdb_try_candidate(m, path);
	if (fd < 0) {
		snprintf(path, sizeof path, "%s", modname);
		fd = symdb_try_candidate(m, path);
	}
	if (fd < 0) {
		if (m && m->check != SYMDB_MISMATCH)
			m->check = SYMDB_MISSING;
		return -1;
	}
	if (m)
		m->check = m->expected[0] ? SYMDB_MATCH : SYMDB_UNVERIFIED;
	*file_name = strdup(path);
	return fd;
}

/* The separate debug file named by the module's build-id, under the sysroot first, then on this
 * machine (its id is checked: a stale file there must not lend its lines). Returns an fd or -1. */
static int symdb_find_debug_by_build_id(Dwfl_Module *mod, char **debuginfo_file_name)
{
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(mod, &bits, &vaddr);
	if (len <= 0 || (size_t)len * 2 >= BUILDID_HEX_MAX)
		return -1;
	char hex[BUILDID_HEX_MAX], found[BUILDID_HEX_MAX], path[4096];
	for (int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	const char *root = symdb_current ? symdb_current->sysroot : NULL;
	const char *roots[] = {root && *root ? root : NULL, ""};
	for (size_t r = 0; r < 2; r++) {
		if (!roots[r] || !buildid_debug_path(roots[r], hex, path, sizeof path))
			continue;
		int fd = buildid_open_regular(path);
		if (fd < 0)
			continue;
		if (buildid_of_fd(fd, found) && strcmp(found, hex) == 0) {
			*debuginfo_file_name = strdup(path);
			/* a decompressed copy when its sections are compressed: libdw would inflate
			 * every one of them at each run */
			return *debuginfo_file_name ? debugcache_swap(fd, hex, debuginfo_file_name) : fd;
		}
		close(fd);
	}
	return -1;
}

static int symdb_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
				Dwarf_Addr base, const char *file_name, const char *debuglink_file,
				GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	/* libdwfl also asks here for a dwz alternate file (.gnu_debugaltlink: its name, crc 0), once
	 * the debug file is open; the module's own build-id would name the wrong file for that */
	bool altlink = debuglink_file && debuglink_crc == 0;
	int fd = altlink ? -1 : symdb_find_debug_by_build_id(mod, debuginfo_file_name);
	if (fd >= 0)
		return fd;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					    debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks symdb_callbacks = {
	.find_elf = symdb_find_elf,
	.find_debuginfo = symdb_find_debuginfo,
	.debuginfo_path = &symdb_debuginfo_path,
};

/* Each module's symbol index hangs on its libdwfl userdata: built at the module's first lookup,
 * freed when the module goes (a refresh that no longer reports it, or the db's end). A module with
 * no index to build gets symdb_no_index and libdwfl's own (scanning) lookup. */
static char symdb_no_index;

static void symdb_index_free(void *userdata)
{
	if (userdata && userdata != &symdb_no_index)
		symindex_free(userdata);
}

static int symdb_module_removed(Dwfl_Module *mod, void *userdata, const char *name, Dwarf_Addr base,
				void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	symdb_index_free(userdata);
	return DWARF_CB_OK;
}

static int symdb_module_forget(Dwfl_Module *mod, void **userdata, const char *name,
			       Dwarf_Addr base, void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	symdb_index_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

/* The name of the function holding addr: the module's index, built at its first lookup. */
static const char *symdb_function(Dwfl_Module *mod, Dwarf_Addr addr)
{
	void **userdata = NULL;
	dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	if (userdata && *userdata == NULL) {
		struct symindex *ix = symindex_build(mod);
		*userdata = ix ? (void *)ix : (void *)&symdb_no_index;
	}
	if (userdata && *userdata != &symdb_no_index)
		return symindex_lookup(*userdata, addr);
	GElf_Sym sym;
	GElf_Off symoff = 0;
	return dwfl_module_addrinfo(mod, addr, &symoff, &sym, NULL, NULL, NULL);
}

struct symdb *symdb_new(const char *maps_text, const char *sysroot, char *err, size_t len)
{
	struct symdb *db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	db->sysroot = sysroot ? strdup(sysroot) : NULL;
	symdb_current = db;
	db->dwfl = dwfl_begin(&symdb_callbacks);
	FILE *f = fmemopen((void *)maps_text, strlen(maps_text), "r");
	if (!db->dwfl || !f) {
		snprintf(err, len, "cannot start libdwfl: %s", dwfl_errmsg(-1));
		if (f)
			fclose(f);
		symdb_free(db);
		return NULL;
	}
	dwfl_report_begin(db->dwfl);
	int rc = dwfl_linux_proc_maps_report(db->dwfl, f);
	dwfl_report_end(db->dwfl, symdb_module_removed, NULL);
	fclose(f);
	if (rc != 0) {
		snprintf(err, len, "cannot read the memory map: %s", rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
		symdb_free(db);
		return NULL;
	}
	return db;
}

void symdb_free(struct symdb *db)
{
	if (!db)
		return;
	if (db->dwfl) {
		dwfl_getmodules(db->dwfl, symdb_module_forget, NULL, 0);
		dwfl_end(db->dwfl);
	}
	for (unsigned i = 0; i < INTERN_BUCKETS; i++)
		for (struct intern_node *n = db->strings[i], *nx; n; n = nx) {
			nx = n->next;
			free(n);
		}
	for (unsigned i = 0; i < CACHE_BUCKETS; i++)
		for (struct cache_node *n = db->cache[i], *nx; n; n = nx) {
			nx = n->next;
			free(n); /* the frames live in the same allocation */
		}
	for (struct symdb_module *m = db->modules, *nx; m; m = nx) {
		nx = m->next;
		free(m->found_path);
		free(m);
	}
	if (symdb_current == db)
		symdb_current = NULL;
	free(db->sysroot);
	free(db);
}

/* Inline chain at pc: innermost inlined callee first, then its callers, the physical function last.
 * Each inlined scope's caller line comes from DW_AT_call_file/line (as eu-addr2line -i does). */
static void symdb_inline_frames(struct symdb *db, Dwfl_Module *mod, Dwarf_Addr pc,
				struct symdb_result *r, const char *phys_func)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias);
	Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
	int lineno = 0;
	const char *file = NULL;
	if (line)
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	r->n = 1;
	r->f[0].func = symdb_intern_func(db, phys_func);
	r->f[0].file = symdb_intern(db, file);
	r->f[0].line = lineno;
	if (!cudie)
		return;
	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes(cudie, pc - bias, &scopes);
	if (n <= 0) {
		free(scopes);
		return;
	}
	/* dwarf_getscopes follows an inlined instance with its abstract origin's scopes; the real
	 * nesting (inline instance -> the function it was inlined into) is the DIE parent chain of the
	 * innermost scope, as eu-addr2line -i does it. */
	Dwarf_Die inner = scopes[0];
	free(scopes);
	scopes = NULL;
	n = dwarf_getscopes_die(&inner, &scopes);
	if (n <= 0) {
		free(scopes);
		return;
	}
	Dwarf_Files *files = NULL;
	dwarf_getsrcfiles(cudie, &files, NULL);
	/* scopes[0] is innermost; each inlined_subroutine's name is the callee, its call site is in the
	 * next outer function */
	int k = 0;
	const char *cur_file = file;
	int cur_line = lineno;
	for (int i = 0; i < n && k < SYMDB_MAX_INLINE - 1; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		Dwarf_Die origin;
		Dwarf_Attribute attr;
		const char *name = dwarf_diename(&scopes[i]);
		if (!name && dwarf_formref_die(dwarf_attr_integrate(&scopes[i], DW_AT_abstract_origin, &attr),
					       &origin))
			name = dwarf_diename(&origin);
		if (!name) {
			Dwarf_Die *d = &scopes[i];
			name = dwarf_diename(dwarf_formref_die(dwarf_attr(d, DW_AT_abstract_origin, &attr),
							     &origin) ? &origin : d);
		}
		r->f[k].func = symdb_intern_func(db, name);
		r->f[k].file = symdb_intern(db, cur_file);
		r->f[k].line = cur_line;
		k++;
		if (tag == DW_TAG_subprogram)
			break;
		Dwarf_Word cf = 0, cl = 0;
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &cf) == 0 && files)
			cur_file = dwarf_filesrc(files, cf, NULL, NULL);
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &cl) == 0)
			cur_line = (int)cl;
	}
	free(scopes);
	if (k > 0) {
		r->n = k;
		/* prefer the ELF symbol name for the physical function (linkage names are demangled
		 * consistently with the symbol table) */
		if (phys_func && r->f[k - 1].func == NULL)
			r->f[k - 1].func = symdb_intern_func(db, phys_func);
	}
}

/* Cache key: (interned module name, offset in module), so a library loaded again elsewhere after
 * dlclose keeps its entries and a different library at a recycled address never hits them. */
const struct symdb_frames *symdb_lookup(struct symdb *db, uint64_t pc)
{
	Dwarf_Addr addr = pc ? pc - 1 : 0; /* return address: the call is the byte before */
	symdb_current = db; /* libdwfl opens files lazily, from the calls below */
	Dwfl_Module *mod = dwfl_addrmodule(db->dwfl, addr);
	if (!mod)
		return NULL;
	Dwarf_Addr start = 0;
	const char *modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	const char *module = symdb_intern(db, modname);
	uint64_t off = pc - start;
	unsigned h = (unsigned)((((uintptr_t)module ^ off) * 0x9e3779b97f4a7c15ull) >> 40) % CACHE_BUCKETS;
	for (struct cache_node *n = db->cache[h]; n; n = n->next)
		if (n->fr->module == module && n->fr->module_off == off)
			return n->fr;
	struct symdb_result r;
	memset(&r, 0, sizeof(r));
	r.module = module;
	r.module_off = off;
	const char *fn = symdb_function(mod, addr);
	symdb_inline_frames(db, mod, addr, &r, fn);
	if (r.n == 0) {
		r.n = 1;
		r.f[0].func = symdb_intern_func(db, fn);
	}
	struct cache_node *n = malloc(sizeof(*n) + sizeof(struct symdb_frames) +
				      (size_t)r.n * sizeof(struct symdb_line));
	if (!n)
		return NULL;
	struct symdb_frames *fr = (struct symdb_frames *)(n + 1);
	fr->module = module;
	fr->module_off = off;
	fr->n = r.n;
	fr->wrappers = 0;
	for (int k = 0; k < r.n; k++) {
		fr->f[k] = (struct symdb_line){r.f[k].func, r.f[k].file, r.f[k].line};
		if (symbols_is_wrapper(r.f[k].func, r.f[k].file))
			fr->wrappers |= 1u << k;
	}
	n->fr = fr;
	n->next = db->cache[h];
	db->cache[h] = n;
	return fr;
}

int symdb_resolve(struct symdb *db, uint64_t pc, struct symdb_result *out)
{
	memset(out, 0, sizeof(*out));
	const struct symdb_frames *fr = symdb_lookup(db, pc);
	if (!fr)
		return -1;
	out->module = fr->module;
	out->module_off = fr->module_off;
	out->n = fr->n < SYMDB_MAX_INLINE ? fr->n : SYMDB_MAX_INLINE;
	for (int k = 0; k < out->n; k++) {
		out->f[k].func = fr->f[k].func;
		out->f[k].file = fr->f[k].file;
		out->f[k].line = fr->f[k].line;
	}
	return 0;
}

/* Re-reports the modules from fresh maps text (dlopen/dlclose). Cached results stay valid. */
int symdb_refresh(struct symdb *db, const char *maps_text)
{
	FILE *f = fmemopen((void *)maps_text, strlen(maps_text), "r");
	if (!f)
		return -1;
	symdb_current = db;
	dwfl_report_begin(db->dwfl);
	int rc = dwfl_linux_proc_maps_report(db->dwfl, f);
	dwfl_report_end(db->dwfl, symdb_module_removed, NULL);
	fclose(f);
	return rc;
}
