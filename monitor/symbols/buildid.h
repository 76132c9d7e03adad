/* buildid: the GNU build-id (NT_GNU_BUILD_ID note) of an ELF file, as lowercase hex, and the
 * /usr/lib/debug/.build-id/ path it names. Opens regular files only (never a device a map lists);
 * never trusts a file to be ELF. Thread-safe (no shared state). */
#ifndef MEMTOP_BUILDID_H
#define MEMTOP_BUILDID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest id we keep: 64 bytes (ids are 16 or 20 in practice), as hex plus the NUL. */
#define BUILDID_HEX_MAX 129

/* The build-id of the ELF open on fd, into hex (BUILDID_HEX_MAX bytes). False: not ELF or no id. */
bool buildid_of_fd(int fd, char *hex);
/* Opens path read-only when it is a regular file. Returns the fd or -1. */
int buildid_open_regular(const char *path);
/* The build-id of the file at path (false: unreadable, not ELF or no id). TEST-ONLY today. */
bool buildid_of_path(const char *path, char *hex);
/* The build-id of the file a /proc/PID/maps line maps (device and inode as the line gives them):
 * read from path when it is still that file, else through /proc/PID/map_files when allowed.
 * False when unknown (replaced, deleted, not ELF, no id): a wrong id is worse than none. */
bool buildid_of_mapping(pid_t pid, unsigned long long start, unsigned long long end,
			unsigned dev_major, unsigned dev_minor, unsigned long long inode,
			const char *path, char *hex);
/* True when hex is a plausible build-id (even number of lowercase hex digits, 2..128). */
bool buildid_valid_hex(const char *hex);
/* ROOT/usr/lib/debug/.build-id/ab/cdef....debug (root may be NULL or ""). False if too long. */
bool buildid_debug_path(const char *root, const char *hex, char *out, size_t len);

#endif
