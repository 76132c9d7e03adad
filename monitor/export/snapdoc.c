/* snapdoc: reads a text snapshot back (header figures, call sites with their frames, modules and
 * maps) for the exports. Strict on the sections it uses: a line there it cannot read is an error
 * naming the line; sections it does not use are skipped, so newer snapshots still convert. */
#include "export/snapdoc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum snapdoc_section { SEC_HEADER, SEC_SITES, SEC_PEAK, SEC_TIMELINE, SEC_MODULES, SEC_MAPS,
		       SEC_OTHER };

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 64;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return false;
	*arr = na;
	*cap = nc;
	return true;
}

static bool parse_u64(const char *s, int base, uint64_t *out, const char **end)
{
	char *e;
	if (!isxdigit((unsigned char)*s))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &e, base);
	if (errno || e == s)
		return false;
	*out = v;
	if (end)
		*end = e;
	return true;
}

static void header_key(struct snapdoc *d, char *line)
{
	char *colon = strstr(line, ": ");
	if (!colon)
		return;
	*colon = '\0';
	char *val = colon + 2;
	static const struct { const char *key; size_t off; } nums[] = {
		{"uptime_ms", offsetof(struct snapdoc, uptime_ms)},
		{"live_bytes", offsetof(struct snapdoc, live_bytes)},
		{"live_blocks", offsetof(struct snapdoc, live_blocks)},
		{"allocs", offsetof(struct snapdoc, allocs)},
		{"frees", offsetof(struct snapdoc, frees)},
		{"bytes_allocated", offsetof(struct snapdoc, bytes_allocated)},
		{"bytes_freed", offsetof(struct snapdoc, bytes_freed)},
		{"peak_bytes", offsetof(struct snapdoc, peak_bytes)},
		{"peak_blocks", offsetof(struct snapdoc, peak_blocks)},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (strcmp(line, nums[i].key) == 0)
			parse_u64(val, 10, (uint64_t *)((char *)d + nums[i].off), NULL);
	if (strcmp(line, "pid") == 0)
		d->pid = atoi(val);
	else if (strcmp(line, "exe") == 0)
		d->exe = val;
	else if (strcmp(line, "command") == 0)
		d->command = val;
	else if (strcmp(line, "time") == 0)
		d->time = val;
}

static bool parse_site(struct snapdoc *d, const char *line)
{
	struct snapdoc_site s = {.first_frame = d->n_frames};
	unsigned long long id, bytes, blocks, allocs, frees, balloc;
	int at = 0;
	if (sscanf(line, "site %llu: %llu bytes in %llu blocks%n", &id, &bytes, &blocks, &at) != 3 ||
	    id > UINT32_MAX)
		return false;
	s.id = (uint32_t)id;
	s.live_bytes = bytes;
	s.live_blocks = blocks;
	if (line[at] && sscanf(line + at, " (allocs=%llu frees=%llu bytes_allocated=%llu)", &allocs,
			       &frees, &balloc) == 3) {
		s.has_totals = true;
		s.allocs = allocs;
		s.frees = frees;
		s.bytes_allocated = balloc;
	}
	if (!grow((void **)&d->sites, &d->cap_sites, d->n_sites, sizeof(s)))
		return false;
	d->sites[d->n_sites++] = s;
	return true;
}

/* "MODULE+0xOFF" or "??" after the pc; true when rest is one of them. */
static bool parse_module(char *rest, struct snapdoc_frame *f)
{
	if (strcmp(rest, "??") == 0)
		return true;
	char *plus = strstr(rest, "+0x");
	char *last = NULL;
	for (; plus; plus = strstr(plus + 1, "+0x"))
		last = plus;
	const char *end;
	if (!last || last == rest || !parse_u64(last + 3, 16, &f->module_off, &end) || *end)
		return false;
	*last = '\0';
	f->module = rest;
	return true;
}

/* "  #D FUNC [FILE:LINE] [[inlined]] 0xPC MODULE+0xOFF|??" (FUNC may hold spaces). */
static bool parse_frame(char *line, struct snapdoc_frame *f)
{
	memset(f, 0, sizeof(*f));
	char *p = line + 3;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != ' ')
		return false;
	char *func = p, *pc_at = NULL;
	/* the pc is the last " 0xHEX " whose remainder reads as a module */
	for (char *q = strstr(func, " 0x"); q; q = strstr(q + 1, " 0x")) {
		const char *end;
		uint64_t pc;
		if (parse_u64(q + 3, 16, &pc, &end) && *end == ' ' && (strcmp(end + 1, "??") == 0 ||
									 strstr(end + 1, "+0x")))
			pc_at = q;
	}
	if (!pc_at)
		return false;
	const char *end;
	parse_u64(pc_at + 3, 16, &f->pc, &end);
	if (!parse_module((char *)end + 1, f))
		return false;
	*pc_at = '\0';
	size_t n = strlen(func);
	if (n >= 10 && strcmp(func + n - 10, " [inlined]") == 0) {
		f->inlined = true;
		func[n - 10] = '\0';
	}
	char *sp = strrchr(func, ' ');
	char *colon = sp ? strrchr(sp, ':') : NULL;
	if (colon && colon[1] && colon > sp + 1 && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		*colon = '\0';
		*sp = '\0';
		f->file = sp + 1;
		f->line = atoi(colon + 1);
	}
	f->func = strcmp(func, "??") == 0 || !*func ? NULL : func;
	return true;
}

static bool parse_sites_line(struct snapdoc *d, char *line)
{
	if (strncmp(line, "site ", 5) == 0)
		return parse_site(d, line);
	if (!d->n_sites)
		return false;
	if (strncmp(line, "  (", 3) == 0)
		return true; /* "(no stack...)" */
	struct snapdoc_frame f;
	if (strncmp(line, "  #", 3) != 0 || !parse_frame(line, &f))
		return false;
	if (!grow((void **)&d->frames, &d->cap_frames, d->n_frames, sizeof(f)))
		return false;
	d->frames[d->n_frames++] = f;
	d->sites[d->n_sites - 1].n_frames++;
	return true;
}

static bool parse_module_line(struct snapdoc *d, char *line)
{
	if (strncmp(line, "module ", 7) != 0)
		return false;
	char *sp = strchr(line + 7, ' ');
	if (!sp || !grow((void **)&d->modules, &d->cap_modules, d->n_modules, sizeof(*d->modules)))
		return false;
	*sp = '\0';
	d->modules[d->n_modules++] = (struct snapdoc_module){
		.build_id = strcmp(line + 7, "-") == 0 ? NULL : line + 7, .path = sp + 1};
	return true;
}

static bool parse_map_line(struct snapdoc *d, char *line)
{
	unsigned long long start, end, off, inode;
	char perms[8];
	unsigned ma, mi;
	int at = 0;
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &ma, &mi, &inode,
		   &at) < 7 || at <= 0 || line[at] != '/')
		return false;
	if (!grow((void **)&d->maps, &d->cap_maps, d->n_maps, sizeof(*d->maps)))
		return false;
	d->maps[d->n_maps++] = (struct snapdoc_map){.start = start, .end = end, .offset = off,
						    .exec = strlen(perms) > 2 && perms[2] == 'x',
						    .path = line + at};
	return true;
}

static int site_id_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct snapdoc_site *const *)a)[0]->id;
	uint32_t y = ((const struct snapdoc_site *const *)b)[0]->id;
	return x < y ? -1 : x > y;
}

/* "peak ID: B bytes in N blocks at FUNC" onto the site ID of "## sites" (sites come first);
 * byid: the sites sorted by id, made on the first peak line. */
static bool parse_peak_line(struct snapdoc *d, const char *line, struct snapdoc_site ***byid)
{
	unsigned long long id, bytes, blocks;
	if (sscanf(line, "peak %llu: %llu bytes in %llu blocks", &id, &bytes, &blocks) != 3)
		return false;
	if (!*byid) {
		*byid = malloc((d->n_sites + 1) * sizeof(**byid));
		if (!*byid)
			return false;
		for (size_t i = 0; i < d->n_sites; i++)
			(*byid)[i] = &d->sites[i];
		if (d->n_sites > 1)
			qsort(*byid, d->n_sites, sizeof(**byid), site_id_cmp);
	}
	struct snapdoc_site key = {.id = (uint32_t)id}, *kp = &key;
	struct snapdoc_site **hit = id <= UINT32_MAX ? bsearch(&kp, *byid, d->n_sites, sizeof(**byid),
								 site_id_cmp) : NULL;
	if (hit) {
		(*hit)->peak_bytes = bytes;
		(*hit)->peak_blocks = blocks;
	} else {
		d->peak_unlisted += bytes;
	}
	return true;
}

/* "step_ms: S" or "at MS: BYTES[ max=MAX min=MIN]" (MIN <= BYTES <= MAX), in time order */
static bool parse_timeline_line(struct snapdoc *d, const char *line)
{
	unsigned long long t, bytes, max, min;
	if (strncmp(line, "step_ms: ", 9) == 0)
		return true;
	int got = sscanf(line, "at %llu: %llu max=%llu min=%llu", &t, &bytes, &max, &min);
	if (got == 2)
		max = min = bytes; /* a snapshot from before the extremes were kept */
	if ((got != 2 && got != 4) || t > UINT32_MAX || max < bytes || min > bytes ||
	    (d->n_timeline && t < d->timeline_ms[d->n_timeline - 1]))
		return false;
	size_t cap = d->cap_timeline;
	if (!grow((void **)&d->timeline_ms, &cap, d->n_timeline, sizeof(*d->timeline_ms)))
		return false;
	cap = d->cap_timeline;
	if (!grow((void **)&d->timeline_bytes, &cap, d->n_timeline, sizeof(*d->timeline_bytes)))
		return false;
	cap = d->cap_timeline;
	if (!grow((void **)&d->timeline_max, &cap, d->n_timeline, sizeof(*d->timeline_max)))
		return false;
	d->cap_timeline = cap;
	d->timeline_max[d->n_timeline] = max;
	d->timeline_ms[d->n_timeline] = (uint32_t)t;
	d->timeline_bytes[d->n_timeline++] = bytes;
	return true;
}

static enum snapdoc_section section_of(const char *line)
{
	if (strcmp(line, "## sites") == 0)
		return SEC_SITES;
	if (strcmp(line, "## modules") == 0)
		return SEC_MODULES;
	if (strcmp(line, "## peak") == 0)
		return SEC_PEAK;
	if (strcmp(line, "## timeline") == 0)
		return SEC_TIMELINE;
	if (strcmp(line, "## maps") == 0)
		return SEC_MAPS;
	return SEC_OTHER;
}

static int map_start_cmp(const void *a, const void *b)
{
	const struct snapdoc_map *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

struct snapdoc *snapdoc_parse(char *text, char *err, size_t errlen)
{
	struct snapdoc *d = calloc(1, sizeof(*d));
	if (!d) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->text = text;
	if (strncmp(text, "# memtop snapshot\n", 18) != 0) {
		snprintf(err, errlen, "not a memtop snapshot (no '# memtop snapshot' first line)");
		snapdoc_free(d);
		return NULL;
	}
	enum snapdoc_section sec = SEC_HEADER;
	struct snapdoc_site **byid = NULL;
	bool ended = false;
	unsigned lineno = 0;
	for (char *line = text; line && *line && !ended;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		bool ok = true;
		if (strncmp(line, "## ", 3) == 0) {
			ended = strcmp(line, "## end") == 0;
			sec = section_of(line);
			d->has_peak_sites |= sec == SEC_PEAK;
		} else if (*line && sec == SEC_HEADER) {
			header_key(d, line);
		} else if (*line && sec == SEC_SITES) {
			ok = !byid && parse_sites_line(d, line); /* byid points into d->sites */
		} else if (*line && sec == SEC_TIMELINE) {
			ok = parse_timeline_line(d, line);
		} else if (*line && sec == SEC_PEAK) {
			ok = parse_peak_line(d, line, &byid);
		} else if (*line && sec == SEC_MODULES) {
			ok = parse_module_line(d, line);
		} else if (*line && sec == SEC_MAPS) {
			ok = parse_map_line(d, line);
		}
		if (!ok) {
			snprintf(err, errlen, "line %u of the snapshot cannot be read (%s)", lineno,
				 sec == SEC_SITES ? "call sites" : sec == SEC_PEAK ? "peak" : sec == SEC_TIMELINE ? "timeline" :
				 sec == SEC_MODULES ? "modules" : "maps");
			free(byid);
			snapdoc_free(d);
			return NULL;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(byid);
	if (!ended) {
		snprintf(err, errlen, "the snapshot is cut short (no '## end' line)");
		snapdoc_free(d);
		return NULL;
	}
	if (d->n_maps > 1)
		qsort(d->maps, d->n_maps, sizeof(*d->maps), map_start_cmp); /* snapdoc_map_of bisects */
	return d;
}

char *snapdoc_read_text(FILE *in, char *err, size_t errlen)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, in);
		if (r == 0)
			break;
		n += r;
	}
	if (ferror(in)) {
		snprintf(err, errlen, "cannot read the snapshot: %s", strerror(errno));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		snprintf(err, errlen, "not a memtop snapshot (it holds a NUL byte)");
		free(buf);
		return NULL;
	}
	return buf;
}

int snapdoc_select(char *text, int pid, char *err, size_t errlen)
{
	char *start = pid <= 0 ? text : NULL;
	char want[64];
	if (!start) {
		/* the root's snapshot comes first: its header's pid line is the first in the file */
		const char *first = strstr(text, "\npid: ");
		snprintf(want, sizeof want, "pid: %d\n", pid);
		if (first && strncmp(first + 1, want, strlen(want)) == 0)
			start = text;
	}
	if (!start) {
		snprintf(want, sizeof want, "# memtop process %d ppid ", pid);
		for (char *p = text; !start && (p = strstr(p, want)); p++)
			if (p == text || p[-1] == '\n')
				start = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
	}
	if (!start) {
		snprintf(err, errlen, "no process %d in this file (a report of a process tree holds one "
			 "snapshot per process; the '# memtop tree' rows list them)", pid);
		return -1;
	}
	char *next = strstr(start, "\n# memtop process ");
	char *tree = strstr(start, "\n# memtop tree\n");
	char *cut = next && (!tree || next < tree) ? next : tree;
	size_t len = cut ? (size_t)(cut - start) + 1 : strlen(start);
	memmove(text, start, len);
	text[len] = '\0';
	return 0;
}

struct snapdoc *snapdoc_read_pid(FILE *in, int pid, char *err, size_t errlen)
{
	char *text = snapdoc_read_text(in, err, errlen);
	if (!text)
		return NULL;
	if (snapdoc_select(text, pid, err, errlen) != 0) {
		free(text);
		return NULL;
	}
	return snapdoc_parse(text, err, errlen);
}

struct snapdoc *snapdoc_read(FILE *in, char *err, size_t errlen)
{
	return snapdoc_read_pid(in, 0, err, errlen);
}

void snapdoc_free(struct snapdoc *d)
{
	if (!d)
		return;
	free(d->sites);
	free(d->frames);
	free(d->maps);
	free(d->modules);
	free(d->timeline_ms);
	free(d->timeline_bytes);
	free(d->timeline_max);
	free(d->text);
	free(d);
}

const char *snapdoc_build_id(const struct snapdoc *d, const char *path)
{
	for (size_t i = 0; i < d->n_modules; i++)
		if (strcmp(d->modules[i].path, path) == 0)
			return d->modules[i].build_id;
	return NULL;
}

const struct snapdoc_map *snapdoc_map_of(const struct snapdoc *d, uint64_t pc)
{
	size_t lo = 0, hi = d->n_maps; /* the last map starting at or below pc */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->maps[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && pc < d->maps[lo - 1].end ? &d->maps[lo - 1] : NULL;
}
