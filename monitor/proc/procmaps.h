/* procmaps: parsers for /proc/PID/maps, smaps (Rss) and pagemap (resident pages). Pure readers of
 * text and files; never touch the model. Parsers take text so unit tests can feed them fixtures. */
#ifndef MEMTOP_PROCMAPS_H
#define MEMTOP_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procmaps_entry {
	uint64_t start, end, offset, inode;
	char perms[5];
	char name[128];
	uint64_t rss_kib; /* from smaps (0 when not read) */
};

/* Parses maps (or smaps) text. Returns the number of entries (malloc'ed in *out), -1 on ENOMEM.
 * With smaps text, Rss lines fill rss_kib. */
ssize_t procmaps_parse(const char *text, struct procmaps_entry **out);
/* Reads a whole /proc file into a malloc'ed NUL-terminated string (NULL on error). */
char *procmaps_read_file(const char *path);
/* Index of the entry containing addr (entries sorted by start), or -1. */
ssize_t procmaps_find(const struct procmaps_entry *e, size_t n, uint64_t addr);
/* Fills resident[i] (0..100 %) for `divisions` equal parts of [start,end) from /proc/PID/pagemap.
 * Returns 0, or -1 when pagemap is not readable. */
int procmaps_resident(pid_t pid, uint64_t start, uint64_t end, uint32_t divisions, uint8_t *resident);
/* Spreads [addr, addr+size) over `divisions` equal parts of [start,end) (bytes beyond the end are
 * counted in the last part, before the start in the first), so the parts sum to size. */
void procmaps_spread(uint64_t start, uint64_t end, uint32_t divisions, uint64_t addr, uint64_t size,
		     uint64_t *heat);

#endif
