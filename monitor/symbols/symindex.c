/* symindex: one sorted address index per module of the symbol table libdwfl chose for it (.symtab,
 * or .dynsym on a stripped file, plus .gnu_debugdata), answered by binary search, so that naming a
 * return address never scans the table (dwfl_module_addrinfo does, per lookup). It picks the symbol
 * libdwfl would: among the sized symbols that contain the address, globals first, then locals, in
 * table order, one replaces the current choice if it starts closer, has a higher binding value, or
 * starts at the same place with the same binding and is smaller.
 * The rare address that only a sizeless label (assembly) could name is asked of libdwfl itself.
 * Built on the symbolizer thread only (libdwfl is not thread-safe); never frees what it returned. */
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/symindex.h"

struct symindex_sym {
	GElf_Addr start, end; /* end == start for a sizeless symbol */
	const char *name;     /* in libdwfl's string table: lives as long as the module */
	uint32_t index;       /* in libdwfl's table: ties are settled in table order */
	uint8_t bind;         /* binding value: 3 global, 2 weak, 1 local, 0 other */
};

/* One table (globals or locals), sorted by start, with the highest end among entries 0..i. */
struct symindex_table {
	struct symindex_sym *sym;
	GElf_Addr *max_end;
	size_t n;
};

struct symindex {
	Dwfl_Module *mod;
	struct symindex_table globals, locals;
};

/* The order libdwfl prefers bindings in. */
static uint8_t symindex_binding(const GElf_Sym *s)
{
	switch (GELF_ST_BIND(s->st_info)) {
	case STB_GLOBAL: return 3;
	case STB_WEAK: return 2;
	case STB_LOCAL: return 1;
	default: return 0;
	}
}

static int symindex_cmp(const void *a, const void *b)
{
	const struct symindex_sym *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static bool symindex_eligible(const char *name, const GElf_Sym *s)
{
	int type = GELF_ST_TYPE(s->st_info);
	return name && name[0] && s->st_shndx != SHN_UNDEF && type != STT_SECTION &&
	       type != STT_FILE && type != STT_TLS;
}

/* Fills t with the eligible symbols of [from, to). False on memory exhaustion. */
static bool symindex_table_build(Dwfl_Module *mod, int from, int to, struct symindex_table *t)
{
	size_t cap = to > from ? (size_t)(to - from) : 0;
	t->sym = cap ? malloc(cap * sizeof *t->sym) : NULL;
	if (cap && !t->sym)
		return false;
	for (int i = from; i < to; i++) {
		GElf_Sym s;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &s, &addr, NULL, NULL, NULL);
		if (!symindex_eligible(name, &s))
			continue;
		t->sym[t->n++] = (struct symindex_sym){addr, addr + s.st_size, name, (uint32_t)i,
						       symindex_binding(&s)};
	}
	if (t->n > 1) /* qsort's base may not be NULL, even for no element */
		qsort(t->sym, t->n, sizeof *t->sym, symindex_cmp);
	t->max_end = t->n ? malloc(t->n * sizeof *t->max_end) : NULL;
	if (t->n && !t->max_end)
		return false;
	for (size_t i = 0; i < t->n; i++)
		t->max_end[i] = i && t->max_end[i - 1] > t->sym[i].end ? t->max_end[i - 1] : t->sym[i].end;
	return true;
}

static void symindex_table_free(struct symindex_table *t)
{
	free(t->sym);
	free(t->max_end);
}

struct symindex *symindex_build(Dwfl_Module *mod)
{
	int n = dwfl_module_getsymtab(mod);
	if (n <= 0)
		return NULL;
	int first_global = dwfl_module_getsymtab_first_global(mod);
	if (first_global < 0)
		return NULL;
	if (first_global == 0)
		first_global = 1; /* no split known: every symbol counts as global, as in libdwfl */
	struct symindex *ix = calloc(1, sizeof *ix);
	if (!ix)
		return NULL;
	ix->mod = mod;
	if (!symindex_table_build(mod, first_global, n, &ix->globals) ||
	    !symindex_table_build(mod, 1, first_global, &ix->locals)) {
		symindex_free(ix);
		return NULL;
	}
	return ix;
}

void symindex_free(struct symindex *ix)
{
	if (!ix)
		return;
	symindex_table_free(&ix->globals);
	symindex_table_free(&ix->locals);
	free(ix);
}

/* What the searches learn: the chosen sized symbol, the highest end among the symbols starting at
 * or below the address (a label under it cannot be taken), and whether a sizeless label sits at the
 * highest start below the address (the only place one could be taken). */
struct symindex_best {
	const struct symindex_sym *sized;
	GElf_Addr min_label, top_start;
	bool have_top, label_at_top, global_label_exact;
};

/* Index of the last symbol starting at or below addr, or -1. */
static ptrdiff_t symindex_last_at_or_below(const struct symindex_table *t, GElf_Addr addr)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->sym[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

#define SYMINDEX_CANDIDATES 64

/* libdwfl's choice among the sized symbols containing the address, in table order. */
static const struct symindex_sym *symindex_choose(const struct symindex_sym **c, int n)
{
	for (int i = 1; i < n; i++) /* few: insertion sort by table index */
		for (int j = i; j > 0 && c[j - 1]->index > c[j]->index; j--) {
			const struct symindex_sym *x = c[j];
			c[j] = c[j - 1];
			c[j - 1] = x;
		}
	const struct symindex_sym *best = NULL;
	for (int i = 0; i < n; i++) {
		const struct symindex_sym *s = c[i];
		if (!best || best->start < s->start || best->bind < s->bind ||
		    (best->start == s->start && best->bind == s->bind &&
		     s->end - s->start < best->end - best->start))
			best = s;
	}
	return best;
}

/* False when the candidates overflow (the caller asks libdwfl). */
static bool symindex_search(const struct symindex_table *t, GElf_Addr addr, bool globals,
			    struct symindex_best *b)
{
	ptrdiff_t top = symindex_last_at_or_below(t, addr);
	if (top < 0)
		return true;
	if (t->max_end[top] > b->min_label)
		b->min_label = t->max_end[top];
	GElf_Addr start = t->sym[top].start;
	bool label = false;
	for (ptrdiff_t j = top; j >= 0 && t->sym[j].start == start; j--)
		label |= t->sym[j].end == t->sym[j].start;
	if (!b->have_top || start > b->top_start) {
		b->top_start = start;
		b->label_at_top = label;
		b->have_top = true;
	} else if (start == b->top_start) {
		b->label_at_top |= label;
	}
	if (globals && label && start == addr)
		b->global_label_exact = true;
	/* Down while a symbol at or below j may still contain addr (prefix maximum of the ends). */
	const struct symindex_sym *c[SYMINDEX_CANDIDATES];
	int n = 0;
	for (ptrdiff_t j = top; j >= 0 && t->max_end[j] > addr; j--) {
		if (t->sym[j].end <= addr)
			continue;
		if (n == SYMINDEX_CANDIDATES)
			return false;
		c[n++] = &t->sym[j];
	}
	if (n)
		b->sized = symindex_choose(c, n);
	return true;
}

const char *symindex_lookup(const struct symindex *ix, GElf_Addr addr)
{
	struct symindex_best b = {0};
	if (!symindex_search(&ix->globals, addr, true, &b))
		goto ask_libdwfl;
	if (b.sized)
		return b.sized->name;
	if (b.global_label_exact)
		goto ask_libdwfl;
	if (!symindex_search(&ix->locals, addr, false, &b))
		goto ask_libdwfl;
	if (b.sized)
		return b.sized->name;
	if (!b.label_at_top || b.top_start < b.min_label)
		return NULL; /* no label could pass libdwfl's own tests */
ask_libdwfl:;
	GElf_Sym sym;
	GElf_Off off;
	return dwfl_module_addrinfo(ix->mod, addr, &off, &sym, NULL, NULL, NULL);
}
