/* demangle: C++ symbol names made readable (`_Znwm` -> `operator new(unsigned long)`) through
 * libstdc++'s __cxa_demangle, when the build found libstdc++ (meson: MEMTOP_HAVE_CXA_DEMANGLE).
 * Only names in the Itanium ABI's form (`_Z...`) are touched: a C name is never rewritten. */
#ifndef MEMTOP_DEMANGLE_H
#define MEMTOP_DEMANGLE_H

/* The demangled name (malloc'd: the caller frees it), or NULL when name is not a mangled C++
 * name, cannot be demangled, or demangling is not built in. */
char *symbols_demangle(const char *name);

#endif
