/* symindex: a module's symbol table sorted by address, for lookups by binary search (symindex.c).
 * Symbolizer thread only; an index lives as long as its Dwfl_Module (names point into libdwfl). */
#ifndef MEMTOP_SYMINDEX_H
#define MEMTOP_SYMINDEX_H

#include <elfutils/libdwfl.h>

struct symindex;
/* NULL when the module has no symbol table (or memory ran out): the caller falls back. */
struct symindex *symindex_build(Dwfl_Module *mod);
void symindex_free(struct symindex *ix);
/* The name of the symbol libdwfl's dwfl_module_addrinfo would give for addr, or NULL. */
const char *symindex_lookup(const struct symindex *ix, GElf_Addr addr);

#endif
