/* inject_elf: finds where a symbol of a shared object lives in another process, from
 * /proc/PID/maps and the object's ELF dynamic symbol table read from disk. Pure readers of files:
 * never touch the target's memory or registers. */
#ifndef MEMTOP_INJECT_ELF_H
#define MEMTOP_INJECT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One object mapped in the target: its path as the target sees it and its load bias. */
struct inject_object {
	char path[512];
	uint64_t bias;        /* runtime address = bias + st_value */
	uint64_t lo, hi;      /* the range its mappings cover */
	uint64_t first_hi;    /* the end of the mapping that starts at lo (its /proc map_files name) */
};

/* Finds the first mapped object whose file name (after the last '/') starts with prefix and whose
 * next character is one of ".-" or the end. Returns 0, or -1 when none is mapped. */
int inject_find_object(pid_t pid, const char *prefix, struct inject_object *obj);
/* Finds the object mapped from exactly this path. */
int inject_find_object_path(pid_t pid, const char *path, struct inject_object *obj);
/* Is addr inside a mapping of obj's file? */
bool inject_object_contains(const struct inject_object *obj, uint64_t addr);

/* Value of a defined dynamic symbol (the default version when there are several) of the ELF file
 * at path (read through /proc/PID/root so another mount namespace is seen as the target sees it).
 * Returns 0 with *addr = bias + value, or -1. */
int inject_symbol(pid_t pid, const struct inject_object *obj, const char *name, uint64_t *addr);

/* Reads the ELF header of /proc/PID/exe: machine (EM_*), class, and whether it has PT_INTERP.
 * Returns 0, or -1 when it cannot be read. */
int inject_exe_kind(pid_t pid, int *machine, int *elfclass, bool *dynamic);

#endif
