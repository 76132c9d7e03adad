/* buildid: reads GNU build-ids from ELF files (libelf + dwelf) and names the debug file of one.
 * Snapshots record them so that `memtop symbolize` never resolves a module against another build.
 * Never opens anything but a regular file, never trusts the bytes to be ELF. */
#include "symbols/buildid.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool buildid_of_fd(int fd, char *hex)
{
	hex[0] = '\0';
	if (elf_version(EV_CURRENT) == EV_NONE)
		return false;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return false;
	const void *bits = NULL;
	ssize_t len = elf_kind(elf) == ELF_K_ELF ? dwelf_elf_gnu_build_id(elf, &bits) : -1;
	bool ok = len > 0 && (size_t)len * 2 < BUILDID_HEX_MAX;
	for (ssize_t i = 0; ok && i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)bits)[i]);
	elf_end(elf);
	return ok;
}

int buildid_open_regular(const char *path)
{
	/* O_NONBLOCK: a FIFO or device named in a map must not hang the open; fstat then refuses it */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

bool buildid_of_path(const char *path, char *hex)
{
	hex[0] = '\0';
	int fd = buildid_open_regular(path);
	if (fd < 0)
		return false;
	bool ok = buildid_of_fd(fd, hex);
	close(fd);
	return ok;
}

bool buildid_of_mapping(pid_t pid, unsigned long long start, unsigned long long end,
			unsigned dev_major, unsigned dev_minor, unsigned long long inode,
			const char *path, char *hex)
{
	hex[0] = '\0';
	struct stat st;
	int fd = buildid_open_regular(path);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == inode &&
	    major(st.st_dev) == dev_major && minor(st.st_dev) == dev_minor) {
		bool ok = buildid_of_fd(fd, hex);
		close(fd);
		return ok;
	}
	if (fd >= 0)
		close(fd);
	/* the path now names another file (rebuilt, upgraded): the mapped one itself, when the kernel
	 * lets us open it (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) and the target still runs */
	char mf[96];
	snprintf(mf, sizeof mf, "/proc/%d/map_files/%llx-%llx", (int)pid, start, end);
	fd = buildid_open_regular(mf);
	if (fd < 0)
		return false;
	bool ok = fstat(fd, &st) == 0 && st.st_ino == inode && buildid_of_fd(fd, hex);
	close(fd);
	return ok;
}

bool buildid_valid_hex(const char *hex)
{
	size_t n = strspn(hex, "0123456789abcdef");
	return hex[n] == '\0' && n >= 2 && n % 2 == 0 && n < BUILDID_HEX_MAX;
}

bool buildid_debug_path(const char *root, const char *hex, char *out, size_t len)
{
	if (!buildid_valid_hex(hex))
		return false;
	int n = snprintf(out, len, "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root ? root : "", hex,
			 hex + 2);
	return n > 0 && (size_t)n < len;
}
