/* procmaps: /proc/PID/maps, smaps and pagemap readers, and the arithmetic of heatmap divisions.
 * Never trusts the text: malformed lines are skipped, never crash the monitor. */
#include "proc/procmaps.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *procmaps_read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static bool parse_map_line(const char *line, struct procmaps_entry *e)
{
	unsigned long long start, end, off, inode;
	char perms[8];
	int name_at = 0;
	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%llx-%llx %7s %llx %*s %llu%n", &start, &end, perms, &off, &inode,
		   &name_at) < 5 || end < start)
		return false;
	while (line[name_at] == ' ' || line[name_at] == '\t') /* never past the end of the line */
		name_at++;
	e->start = start;
	e->end = end;
	e->offset = off;
	e->inode = inode;
	snprintf(e->perms, sizeof e->perms, "%.4s", perms);
	const char *name = line + name_at;
	size_t len = strcspn(name, "\n");
	if (len >= sizeof e->name)
		len = sizeof e->name - 1;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	return true;
}

ssize_t procmaps_parse(const char *text, struct procmaps_entry **out)
{
	size_t n = 0, cap = 64;
	struct procmaps_entry *v = malloc(cap * sizeof(*v));
	if (!v)
		return -1;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		struct procmaps_entry e;
		unsigned long long kib;
		if (parse_map_line(line, &e)) {
			if (n == cap) {
				struct procmaps_entry *nv = realloc(v, cap * 2 * sizeof(*v));
				if (!nv) {
					free(v);
					return -1;
				}
				v = nv;
				cap *= 2;
			}
			v[n++] = e;
		} else if (n && sscanf(line, "Rss: %llu kB", &kib) == 1) {
			v[n - 1].rss_kib = kib;
		}
		line = nl ? nl + 1 : NULL;
	}
	*out = v;
	return (ssize_t)n;
}

ssize_t procmaps_find(const struct procmaps_entry *e, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < e[mid].start)
			hi = mid;
		else if (addr >= e[mid].end)
			lo = mid + 1;
		else
			return (ssize_t)mid;
	}
	return -1;
}

void procmaps_spread(uint64_t start, uint64_t end, uint32_t divisions, uint64_t addr, uint64_t size,
		     uint64_t *heat)
{
	if (divisions == 0 || end <= start)
		return;
	uint64_t len = end - start;
	uint64_t a = addr < start ? start : addr;
	uint64_t b = addr + size > end ? end : addr + size;
	uint64_t outside = size - (b > a ? b - a : 0);
	if (addr < start)
		heat[0] += outside; /* cannot happen for blocks found by their start; kept exact */
	else
		heat[divisions - 1] += outside;
	while (a < b) {
		uint32_t d = (uint32_t)(((unsigned __int128)(a - start) * divisions) / len);
		if (d >= divisions)
			d = divisions - 1;
		uint64_t dend = start + (uint64_t)(((unsigned __int128)len * (d + 1) + divisions - 1) / divisions);
		if (dend <= a)
			dend = a + 1;
		uint64_t chunk = (b < dend ? b : dend) - a;
		heat[d] += chunk;
		a += chunk;
	}
}

int procmaps_resident(pid_t pid, uint64_t start, uint64_t end, uint32_t divisions, uint8_t *resident)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t pages = (end - start) / (uint64_t)psz;
	uint64_t *bits = pages ? malloc(pages * sizeof(uint64_t)) : NULL;
	if (!bits) {
		close(fd);
		return pages ? -1 : 0;
	}
	ssize_t r = pread(fd, bits, pages * sizeof(uint64_t), (off_t)(start / (uint64_t)psz * 8));
	close(fd);
	if (r != (ssize_t)(pages * sizeof(uint64_t))) {
		free(bits);
		return -1;
	}
	for (uint32_t d = 0; d < divisions; d++) {
		uint64_t p0 = pages * d / divisions, p1 = pages * (d + 1) / divisions;
		uint64_t present = 0;
		for (uint64_t p = p0; p < p1; p++)
			present += (bits[p] >> 63) & 1u;
		resident[d] = p1 > p0 ? (uint8_t)(present * 100 / (p1 - p0)) : 0;
	}
	free(bits);
	return 0;
}
