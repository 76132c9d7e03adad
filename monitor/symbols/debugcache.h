/* debugcache: decompressed copies of separate debug files whose sections are compressed
 * (SHF_COMPRESSED, as in Debian's -dbg packages and many debuginfod downloads), kept by build-id in
 * the user's cache directory. libdw inflates every .debug_* section of a debug file it opens (about
 * 11 MB for libc's, a tenth of a second of CPU): with the copy only the first symbolization on a
 * machine pays for it. Thread-safe (no shared state besides the files). */
#ifndef MEMTOP_DEBUGCACHE_H
#define MEMTOP_DEBUGCACHE_H

#include <stdbool.h>
#include <stddef.h>

/* The directory of the copies: $MEMTOP_DEBUG_CACHE when set ("" or "off": no cache), else
 * $XDG_CACHE_HOME/memtop/debug, else $HOME/.cache/memtop/debug. False when there is none. */
bool debugcache_dir(char *out, size_t len);

/* fd is the debug file at *path, whose build-id is hex (already checked). When its sections are
 * compressed, returns an fd of its decompressed copy (made now if missing) and replaces *path
 * (malloc'ed) with the copy's; closes fd then. Otherwise, and on any failure, returns fd as is. */
int debugcache_swap(int fd, const char *hex, char **path);

#endif
