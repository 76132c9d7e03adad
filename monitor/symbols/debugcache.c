/* debugcache: see debugcache.h. A copy is written under a temporary name in the cache directory and
 * renamed into place, so a reader (another memtop at the same moment) sees a whole file or none;
 * a copy is used only when its build-id is the one asked for. Nothing here is required: any
 * failure (no home, read-only or full disk, a file libelf cannot rewrite) leaves the original in
 * use, and the names and lines found are the same either way. */
#include "symbols/debugcache.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/buildid.h"

bool debugcache_dir(char *out, size_t len)
{
	const char *set = getenv("MEMTOP_DEBUG_CACHE");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (set)
		n = *set && strcmp(set, "off") != 0 ? snprintf(out, len, "%s", set) : -1;
	else if (xdg && *xdg == '/')
		n = snprintf(out, len, "%s/memtop/debug", xdg);
	else if (home && *home == '/')
		n = snprintf(out, len, "%s/.cache/memtop/debug", home);
	else
		n = -1;
	return n > 0 && (size_t)n < len;
}

/* mkdir -p, private: the copies are the user's own */
static bool debugcache_mkdirs(const char *dir)
{
	char p[4096];
	if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
		return false;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return false;
		*s = '/';
	}
	return mkdir(p, 0700) == 0 || errno == EEXIST;
}

static bool debugcache_has_compressed(Elf *elf)
{
	for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn; scn = elf_nextscn(elf, scn)) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED))
			return true;
	}
	return false;
}

/* The ELF header and program headers of in, as they are (offsets are laid out anew by libelf). */
static bool debugcache_copy_headers(Elf *in, Elf *out)
{
	GElf_Ehdr eh, oh;
	size_t phnum, shstrndx;
	if (!gelf_getehdr(in, &eh) || elf_getphdrnum(in, &phnum) != 0 ||
	    elf_getshdrstrndx(in, &shstrndx) != 0 || shstrndx >= SHN_LORESERVE ||
	    !gelf_newehdr(out, gelf_getclass(in)) || !gelf_getehdr(out, &oh))
		return false;
	memcpy(oh.e_ident, eh.e_ident, EI_NIDENT);
	oh.e_type = eh.e_type;
	oh.e_machine = eh.e_machine;
	oh.e_version = eh.e_version;
	oh.e_entry = eh.e_entry;
	oh.e_flags = eh.e_flags;
	oh.e_shstrndx = (GElf_Half)shstrndx;
	if (!gelf_update_ehdr(out, &oh))
		return false;
	if (phnum == 0)
		return true;
	if (!gelf_newphdr(out, phnum))
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(in, (int)i, &ph) || !gelf_update_phdr(out, (int)i, &ph))
			return false;
	}
	return true;
}

/* Every section of in, in order (indexes, links and names stay valid), compressed ones inflated. */
static bool debugcache_copy_sections(Elf *in, Elf *out)
{
	for (Elf_Scn *scn = elf_nextscn(in, NULL); scn; scn = elf_nextscn(in, scn)) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			return false;
		if ((sh.sh_flags & SHF_COMPRESSED) &&
		    (elf_compress(scn, 0, 0) != 1 || !gelf_getshdr(scn, &sh)))
			return false;
		Elf_Scn *o = elf_newscn(out);
		if (!o)
			return false;
		for (Elf_Data *d = elf_getdata(scn, NULL); d; d = elf_getdata(scn, d)) {
			Elf_Data *od = elf_newdata(o);
			if (!od)
				return false;
			od->d_buf = d->d_buf;
			od->d_type = d->d_type;
			od->d_size = d->d_size;
			od->d_off = d->d_off;
			od->d_align = d->d_align;
			od->d_version = d->d_version;
		}
		if (!gelf_update_shdr(o, &sh))
			return false;
	}
	return true;
}

/* Writes the decompressed copy of the debug file open on fd to out_fd. */
static bool debugcache_write(int fd, int out_fd)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return false;
	/* ELF_C_READ: sections are read into memory, where elf_compress may inflate them */
	Elf *in = elf_begin(fd, ELF_C_READ, NULL);
	Elf *out = in && elf_kind(in) == ELF_K_ELF ? elf_begin(out_fd, ELF_C_WRITE, NULL) : NULL;
	bool ok = out && debugcache_has_compressed(in) && debugcache_copy_headers(in, out) &&
		  debugcache_copy_sections(in, out) && elf_update(out, ELF_C_WRITE) > 0;
	if (out)
		elf_end(out);
	if (in)
		elf_end(in);
	return ok;
}

/* The copy at path, open, when its build-id is hex; -1 otherwise. */
static int debugcache_open_copy(const char *path, const char *hex)
{
	int fd = buildid_open_regular(path);
	char found[BUILDID_HEX_MAX];
	if (fd >= 0 && buildid_of_fd(fd, found) && strcmp(found, hex) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Makes the copy of the file open on fd at path (through a temporary name in the same directory). */
static bool debugcache_make(int fd, const char *dir, const char *path)
{
	char tmp[4200];
	if (!debugcache_mkdirs(dir) ||
	    snprintf(tmp, sizeof tmp, "%s/.tmp.%d.XXXXXX", dir, (int)getpid()) >= (int)sizeof tmp)
		return false;
	int out_fd = mkostemp(tmp, O_CLOEXEC);
	if (out_fd < 0)
		return false;
	bool ok = debugcache_write(fd, out_fd);
	ok = close(out_fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok;
}

static bool debugcache_compressed(int fd)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return false;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	bool yes = elf && elf_kind(elf) == ELF_K_ELF && debugcache_has_compressed(elf);
	if (elf)
		elf_end(elf);
	return yes;
}

int debugcache_swap(int fd, const char *hex, char **path)
{
	char dir[4096], copy[4400];
	if (!buildid_valid_hex(hex) || !debugcache_dir(dir, sizeof dir) ||
	    snprintf(copy, sizeof copy, "%s/%s.debug", dir, hex) >= (int)sizeof copy ||
	    !debugcache_compressed(fd))
		return fd;
	int cfd = debugcache_open_copy(copy, hex);
	if (cfd < 0 && debugcache_make(fd, dir, copy))
		cfd = debugcache_open_copy(copy, hex);
	char *name = cfd >= 0 ? strdup(copy) : NULL;
	if (!name) {
		if (cfd >= 0)
			close(cfd);
		return fd;
	}
	free(*path);
	*path = name;
	close(fd);
	return cfd;
}
