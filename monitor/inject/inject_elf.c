/* inject_elf: symbol addresses in another process from /proc/PID/maps and the ELF dynsym of the
 * mapped file (inject_elf.h). Reads files only; every offset taken from a file is bounds-checked
 * against its size (a file is untrusted input). */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject/inject_elf.h"

static bool name_matches(const char *path, const char *prefix)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(prefix);
	return strncmp(base, prefix, n) == 0 && (base[n] == '\0' || base[n] == '.' || base[n] == '-');
}

/* Scans maps for the object (by name prefix or by exact path); bias from its offset-0 mapping. */
static int find_object(pid_t pid, const char *prefix, const char *path, struct inject_object *obj)
{
	char mapsf[64], line[1024];
	snprintf(mapsf, sizeof mapsf, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(mapsf, "re");
	if (!f)
		return -1;
	bool found = false;
	memset(obj, 0, sizeof *obj);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off;
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &lo, &hi, &off, &name_at) < 3 || !name_at)
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		if (name[0] != '/')
			continue;
		bool match = path ? strcmp(name, path) == 0 : name_matches(name, prefix);
		if (!match || (found && strcmp(name, obj->path) != 0))
			continue;
		if (!found) {
			snprintf(obj->path, sizeof obj->path, "%s", name);
			obj->lo = lo;
			obj->first_hi = hi;
			found = true;
		}
		if (off == 0 && lo < obj->lo) {
			obj->lo = lo;
			obj->first_hi = hi;
		}
		if (hi > obj->hi)
			obj->hi = hi;
	}
	fclose(f);
	obj->bias = obj->lo; /* shared objects link at 0; corrected by the first PT_LOAD in inject_symbol */
	return found ? 0 : -1;
}

int inject_find_object(pid_t pid, const char *prefix, struct inject_object *obj)
{
	return find_object(pid, prefix, NULL, obj);
}

int inject_find_object_path(pid_t pid, const char *path, struct inject_object *obj)
{
	return find_object(pid, NULL, path, obj);
}

bool inject_object_contains(const struct inject_object *obj, uint64_t addr)
{
	return addr >= obj->lo && addr < obj->hi;
}

struct elf_file {
	const unsigned char *p;
	size_t size;
};

/* The object's file as the target mapped it: its map_files entry (the same file even when it was
 * replaced or deleted since, as by a rebuild or a package upgrade, or lives in another mount
 * namespace; root only), else its path under the target's root. */
static int elf_open(pid_t pid, const struct inject_object *obj, struct elf_file *ef)
{
	char full[1100];
	snprintf(full, sizeof full, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, obj->lo,
		 obj->first_hi);
	int fd = obj->first_hi ? open(full, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		snprintf(full, sizeof full, "/proc/%d/root%s", (int)pid, obj->path);
		fd = open(full, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	struct stat st;
	void *m = MAP_FAILED;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	ef->p = m;
	ef->size = (size_t)st.st_size;
	const Elf64_Ehdr *eh = m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
		munmap(m, ef->size);
		return -1;
	}
	return 0;
}

static bool in_file(const struct elf_file *ef, uint64_t off, uint64_t len)
{
	return off <= ef->size && len <= ef->size - off;
}

/* The lowest PT_LOAD's page-aligned vaddr: what the offset-0 mapping's start corresponds to. */
static uint64_t elf_first_load(const struct elf_file *ef)
{
	const Elf64_Ehdr *eh = (const void *)ef->p;
	uint64_t lowest = UINT64_MAX;
	if (!in_file(ef, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return 0;
	const Elf64_Phdr *ph = (const void *)(ef->p + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < lowest)
			lowest = ph[i].p_vaddr;
	return lowest == UINT64_MAX ? 0 : lowest & ~(uint64_t)0xfff;
}

/* Looks name up in .dynsym; a hidden (non-default) version only when no default one exists. */
static int elf_dynsym(const struct elf_file *ef, const char *name, uint64_t *value)
{
	const Elf64_Ehdr *eh = (const void *)ef->p;
	if (!in_file(ef, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return -1;
	const Elf64_Shdr *sh = (const void *)(ef->p + eh->e_shoff);
	const Elf64_Shdr *dynsym = NULL, *versym = NULL;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
		else if (sh[i].sh_type == SHT_GNU_versym)
			versym = &sh[i];
	}
	if (!dynsym || dynsym->sh_link >= eh->e_shnum || !in_file(ef, dynsym->sh_offset, dynsym->sh_size))
		return -1;
	const Elf64_Shdr *strs = &sh[dynsym->sh_link];
	if (!in_file(ef, strs->sh_offset, strs->sh_size))
		return -1;
	size_t n = dynsym->sh_size / sizeof(Elf64_Sym);
	if (versym && !in_file(ef, versym->sh_offset, n * sizeof(Elf64_Half)))
		versym = NULL;
	const Elf64_Sym *sym = (const void *)(ef->p + dynsym->sh_offset);
	const char *str = (const char *)ef->p + strs->sh_offset;
	const Elf64_Half *ver = versym ? (const void *)(ef->p + versym->sh_offset) : NULL;
	int found = -1;
	for (size_t i = 1; i < n; i++) {
		if (sym[i].st_shndx == SHN_UNDEF || sym[i].st_name >= strs->sh_size ||
		    ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC)
			continue;
		const char *s = str + sym[i].st_name;
		if (strnlen(s, strs->sh_size - sym[i].st_name) == strs->sh_size - sym[i].st_name ||
		    strcmp(s, name) != 0)
			continue;
		*value = sym[i].st_value;
		found = 0;
		if (!ver || !(ver[i] & 0x8000))
			break; /* the default version */
	}
	return found;
}

int inject_symbol(pid_t pid, const struct inject_object *obj, const char *name, uint64_t *addr)
{
	struct elf_file ef;
	if (elf_open(pid, obj, &ef) != 0)
		return -1;
	uint64_t value = 0;
	int rc = elf_dynsym(&ef, name, &value);
	if (rc == 0)
		*addr = obj->bias - elf_first_load(&ef) + value;
	munmap((void *)ef.p, ef.size);
	return rc;
}

int inject_exe_kind(pid_t pid, int *machine, int *elfclass, bool *dynamic)
{
	char exe[64];
	snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
	int fd = open(exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	unsigned char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	close(fd);
	if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return -1;
	*elfclass = buf[EI_CLASS];
	*dynamic = false;
	if (*elfclass != ELFCLASS64) {
		*machine = ((const Elf32_Ehdr *)(const void *)buf)->e_machine;
		return 0;
	}
	const Elf64_Ehdr *eh = (const void *)buf;
	*machine = eh->e_machine;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		uint64_t off = eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr);
		if (off + sizeof(Elf64_Phdr) > (uint64_t)n)
			break;
		const Elf64_Phdr *ph = (const void *)(buf + off);
		if (ph->p_type == PT_INTERP)
			*dynamic = true;
	}
	return 0;
}
