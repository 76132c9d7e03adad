/* snapshot: writes the versioned text snapshot (header keys, threads, call sites with frames,
 * optional blocks and heatmap, the memory map) and re-symbolizes one offline. The header keys
 * live_bytes, live_blocks, allocs, frees, peak_bytes, lost_events are a contract: never rename. */
#include "export/snapshot.h"
#include "export/analysis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "symbols/buildid.h"
#include "session/session.h"
#include "symbols/symbols.h"
#include "engine/walk.h"

void snapshot_default_options(struct snapshot_options *o)
{
	memset(o, 0, sizeof(*o));
	o->thread_id = MODEL_ANY_THREAD;
	o->divisions = MODEL_HEAT_DEFAULT;
	o->symbols_wait_ms = 30000;
}

static const char *state_name(enum model_state st)
{
	switch (st) {
	case MODEL_STATE_STARTING: return "starting";
	case MODEL_STATE_RUNNING: return "running";
	case MODEL_STATE_EXITED: return "exited";
	case MODEL_STATE_CRASHED: return "crashed";
	}
	return "unknown";
}

static void print_frame(FILE *out, int depth, const struct model_frame *f)
{
	fprintf(out, "  #%d ", depth);
	if (f->func)
		fprintf(out, "%s", f->func);
	else
		fprintf(out, "??");
	if (f->file)
		fprintf(out, " %s:%d", f->file, f->line);
	if (f->inlined)
		fprintf(out, " [inlined]");
	fprintf(out, " 0x%" PRIx64, f->pc);
	if (f->module)
		fprintf(out, " %s+0x%" PRIx64, f->module, f->module_off);
	else
		fprintf(out, " ??");
	fputc('\n', out);
}

static void print_stack(FILE *out, struct session *s, uint32_t stack_id, unsigned max_frames)
{
	struct model_frame frames[MEMTOP_MAX_DEPTH * 4];
	int n = model_site_stack(s, stack_id, frames, (int)(sizeof frames / sizeof frames[0]));
	if (n <= 0) {
		fprintf(out, "  (no stack%s)\n", stack_id == MEMTOP_STACK_OVERFLOW ? ": stack table full" : "");
		return;
	}
	int depth = 0;
	unsigned printed = 0;
	for (int i = 0; i < n; i++) {
		if (max_frames && printed >= max_frames)
			break;
		print_frame(out, depth, &frames[i]);
		printed++;
		if (!frames[i].inlined)
			depth++;
	}
}

static bool find_tag(const struct model_view *v, const char *key, uint64_t *seq)
{
	char *end;
	unsigned long id = strtoul(key, &end, 10);
	for (size_t i = 0; i < v->n_tags; i++) {
		if ((*end == '\0' && v->tags[i].id == id) || strcmp(v->tags[i].name, key) == 0) {
			*seq = v->tags[i].seq;
			return true;
		}
	}
	return false;
}

/* Header values are one line each: control characters (a command line may hold newlines) are
 * written as spaces so that no value can forge another key. */
static void put_line_value(FILE *out, const char *key, const char *val)
{
	fprintf(out, "%s: ", key);
	for (const unsigned char *p = (const unsigned char *)val; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	fputc('\n', out);
}

static void write_header(FILE *out, struct session *s, const struct model_view *v)
{
	const struct model_totals *t = &v->totals;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char when[64];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "# memtop snapshot\n");
	fprintf(out, "format_version: %d\n", SNAPSHOT_FORMAT_VERSION);
	fprintf(out, "tool_version: %s\n", MEMTOP_VERSION);
	fprintf(out, "pid: %d\n", (int)v->session.pid);
	put_line_value(out, "exe", v->session.exe);
	put_line_value(out, "command", v->session.command);
	fprintf(out, "time: %s\n", when);
	fprintf(out, "state: %s\n", state_name(v->session.state));
	if (v->session.state == MODEL_STATE_EXITED)
		fprintf(out, "exit_status: %d\n", v->session.exit_status);
	if (v->session.state == MODEL_STATE_CRASHED)
		fprintf(out, "term_signal: %d\n", v->session.term_signal);
	/* only when something is wrong with the segment, so that healthy snapshots keep their format */
	if (v->session.segment_truncated)
		fprintf(out, "segment: truncated (figures frozen at the last good read)\n");
	else if (v->session.segment_damaged)
		fprintf(out, "segment: damaged (impossible counters ignored; approximate)\n");
	if (v->session.allocator_not_bound)
		fprintf(out, "allocator: not-bound (the target calls another malloc than libmemtop's: "
			"nothing is recorded)\n");
	fprintf(out, "uptime_ms: %" PRIu64 "\n", v->session.uptime_ns / 1000000u);
	fprintf(out, "from_start: %d\n", v->session.from_start ? 1 : 0);
	fprintf(out, "live_bytes: %" PRIu64 "\n", t->live_bytes);
	fprintf(out, "live_blocks: %" PRIu64 "\n", t->live_blocks);
	fprintf(out, "allocs: %" PRIu64 "\n", t->allocs);
	fprintf(out, "frees: %" PRIu64 "\n", t->frees);
	fprintf(out, "bytes_allocated: %" PRIu64 "\n", t->bytes_allocated);
	fprintf(out, "bytes_freed: %" PRIu64 "\n", t->bytes_freed);
	fprintf(out, "peak_bytes: %" PRIu64 "\n", t->peak_bytes);
	fprintf(out, "peak_blocks: %" PRIu64 "\n", t->peak_blocks);
	fprintf(out, "unknown_frees: %" PRIu64 "\n", t->unknown_frees);
	fprintf(out, "lost_events: %" PRIu64 "\n", t->lost_events);
	fprintf(out, "dropped_events: %" PRIu64 "\n", t->dropped_events);
	fprintf(out, "skipped_events: %" PRIu64 "\n", t->skipped_events);
	fprintf(out, "invalid_events: %" PRIu64 "\n", t->invalid_events);
	fprintf(out, "duplicate_allocs: %" PRIu64 "\n", t->duplicate_allocs);
	fprintf(out, "approximate: %d\n", v->session.approximate ? 1 : 0);
	fprintf(out, "events: %" PRIu64 "\n", t->events);
	fprintf(out, "target_allocs: %" PRIu64 "\n", t->target_allocs);
	fprintf(out, "target_frees: %" PRIu64 "\n", t->target_frees);
	fprintf(out, "target_usable_in_use: %" PRIu64 "\n", t->target_usable_in_use);
	fprintf(out, "stacks: %" PRIu64 "\n", t->stacks_used);
	fprintf(out, "segment_bytes: %" PRIu64 "\n", t->segment_bytes);
	fprintf(out, "monitor_bytes: %" PRIu64 "\n", t->monitor_bytes);
	fprintf(out, "model_bytes: %" PRIu64 "\n", t->model_bytes);
	fprintf(out, "overhead_bytes: %" PRIu64 "\n", t->overhead_bytes);
	(void)s;
}

static void write_threads(FILE *out, const struct model_view *v)
{
	fprintf(out, "\n## threads\n");
	for (size_t i = 0; i < v->n_threads; i++) {
		const struct model_thread *t = &v->threads[i];
		fprintf(out, "thread %u tid=%d name=%s live_bytes=%" PRIu64 " live_blocks=%" PRIu64
			" allocs=%" PRIu64 " frees=%" PRIu64 " cross_frees=%" PRIu64 " state=%s\n",
			t->id, t->tid, t->name[0] ? t->name : "-", t->live_bytes, t->live_blocks, t->allocs,
			t->frees, t->cross_frees, t->alive ? "alive" : "gone");
	}
}

static int site_id_cmp(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

/* v->sites re-sorted by stack id by snapshot_write (a private copy), so lookups are O(log n). */
static const struct model_site *view_site(const struct model_view *v, uint32_t id)
{
	struct model_site key = {.stack_id = id};
	return bsearch(&key, v->sites, v->n_sites, sizeof(key), site_id_cmp);
}

static void write_sites(FILE *out, struct session *s, const struct model_view *v,
			const struct model_suspect_site *g, size_t ng, const struct snapshot_options *o)
{
	fprintf(out, "\n## sites\n");
	for (size_t i = 0; i < ng; i++) {
		const struct model_site *vs = view_site(v, g[i].stack_id);
		fprintf(out, "site %u: %" PRIu64 " bytes in %" PRIu64 " blocks", g[i].stack_id, g[i].bytes,
			g[i].blocks);
		if (vs)
			fprintf(out, " (allocs=%" PRIu64 " frees=%" PRIu64 " bytes_allocated=%" PRIu64 ")",
				vs->allocs, vs->frees, vs->bytes_allocated);
		fputc('\n', out);
		print_stack(out, s, g[i].stack_id, o->max_frames);
	}
	if (o->all_sites) {
		/* sites with no selected block, in the view's order (by stack id here) */
		for (size_t i = 0; i < v->n_sites; i++) {
			const struct model_site *vs = &v->sites[i];
			if (vs->live_blocks && o->thread_id == MODEL_ANY_THREAD && !o->older_than_ns &&
			    !o->tag_from && !o->tag_to)
				continue; /* listed above with its blocks */
			bool listed = false;
			for (size_t k = 0; vs->live_blocks && k < ng && !listed; k++)
				listed = g[k].stack_id == vs->stack_id;
			if (listed)
				continue;
			fprintf(out, "site %u: 0 bytes in 0 blocks (allocs=%" PRIu64 " frees=%" PRIu64
				" bytes_allocated=%" PRIu64 ")\n", vs->stack_id, vs->allocs, vs->frees,
				vs->bytes_allocated);
			print_stack(out, s, vs->stack_id, o->max_frames);
		}
	}
}

static void write_blocks(FILE *out, const struct model_walk *w)
{
	fprintf(out, "\n## blocks\n");
	for (size_t i = 0; i < w->count; i++) {
		const struct model_block *b = &w->blocks[i];
		fprintf(out, "block 0x%" PRIx64 " size=%" PRIu64 " thread=%u age_ms=%" PRIu64
			" stack=%u realloc=%d seq=%" PRIu64 "\n", b->addr, b->size, b->thread_id,
			b->age_ns / 1000000u, b->stack_id, b->from_realloc ? 1 : 0, b->seq);
	}
}

static void write_heatmap(FILE *out, struct session *s, uint32_t divisions)
{
	fprintf(out, "\n## heatmap\n");
	struct model_maps *m = model_maps_compute(s, divisions);
	if (!m || m->target_gone) {
		fprintf(out, "unavailable: the target has exited\n");
		model_maps_free(m);
		return;
	}
	if (!m->pagemap_readable)
		fprintf(out, "resident: unknown (pagemap not readable)\n");
	for (size_t i = 0; i < m->n_rows; i++) {
		const struct model_map_row *r = &m->rows[i];
		fprintf(out, "map %" PRIx64 "-%" PRIx64 " %s %s size_kib=%" PRIu64 " rss_kib=%" PRIu64
			" heap_bytes=%" PRIu64 " heap_blocks=%" PRIu64 " heap_pct=%.1f\n", r->start, r->end,
			r->perms, r->name[0] ? r->name : "[anon]", r->size_kib, r->rss_kib, r->heap_bytes,
			r->heap_blocks, r->heap_pct_of_rss);
		fprintf(out, "  heat:");
		for (uint32_t d = 0; d < r->divisions; d++)
			fprintf(out, " %" PRIu64, r->heat_bytes[d]);
		fprintf(out, "\n  resident_pct:");
		if (r->heat_resident_known)
			for (uint32_t d = 0; d < r->divisions; d++)
				fprintf(out, " %u", r->heat_resident[d]);
		else
			fprintf(out, " unknown");
		fputc('\n', out);
	}
	model_maps_free(m);
}

/* The file a maps line maps: what follows the inode field (may hold spaces), or NULL. */
static const char *maps_line_path(const char *line, unsigned long long *start, unsigned long long *end,
				  unsigned *dev_major, unsigned *dev_minor, unsigned long long *inode)
{
	int at = 0;
	if (sscanf(line, "%llx-%llx %*s %*x %x:%x %llu %n", start, end, dev_major, dev_minor, inode,
		   &at) < 5 || at <= 0)
		return NULL;
	return line[at] == '/' ? line + at : NULL;
}

struct seen_path {
	const char *p;
	size_t len;
};

/* Whether path was listed already, else remembers it (newest first: a file's mappings are
 * adjacent, so the usual hit costs one compare). */
static bool path_seen(struct seen_path **seen, size_t *n, size_t *cap, const char *path, size_t len)
{
	for (size_t i = *n; i-- > 0;)
		if ((*seen)[i].len == len && memcmp((*seen)[i].p, path, len) == 0)
			return true;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct seen_path *ns = realloc(*seen, nc * sizeof(*ns));
		if (!ns)
			return false; /* listed twice at worst */
		*seen = ns;
		*cap = nc;
	}
	(*seen)[(*n)++] = (struct seen_path){path, len};
	return false;
}

/* One line per distinct mapped file, "module BUILD_ID PATH" ("-" when the id is unknown), read now
 * from the file when it is still the mapped one (docs/snapshot-format.md, format 2). */
static void write_modules(FILE *out, const char *maps, pid_t pid)
{
	fprintf(out, "\n## modules\n");
	struct seen_path *seen = NULL;
	size_t n_seen = 0, cap_seen = 0;
	for (const char *l = maps; l && *l;) {
		const char *nl = strchr(l, '\n');
		unsigned long long start, end, inode;
		unsigned ma, mi;
		const char *path = maps_line_path(l, &start, &end, &ma, &mi, &inode);
		size_t len = path ? (size_t)((nl ? nl : path + strlen(path)) - path) : 0;
		if (path && len < 4096 && !path_seen(&seen, &n_seen, &cap_seen, path, len)) {
			char file[4096], hex[BUILDID_HEX_MAX];
			snprintf(file, sizeof file, "%.*s", (int)len, path);
			if (!buildid_of_mapping(pid, start, end, ma, mi, inode, file, hex))
				snprintf(hex, sizeof hex, "-");
			fprintf(out, "module %s %s\n", hex, file);
		}
		l = nl ? nl + 1 : NULL;
	}
	free(seen);
}

int snapshot_write(struct session *s, FILE *out, const struct snapshot_options *o, char *err,
		   size_t errlen)
{
	struct symbols *sym = session_symbols_get(s); /* replaced at exec: held to the end */
	if (sym)
		symbols_wait_idle(sym, o->symbols_wait_ms);
	/* copy the view we need under the lock: never hold it across I/O */
	urcu_memb_read_lock();
	const struct model_view *cur = model_view_get(s);
	struct model_view v;
	struct model_site *sites = NULL;
	struct model_thread *threads = NULL;
	struct model_tag *tags = NULL;
	if (cur) {
		v = *cur;
		sites = malloc((v.n_sites + 1) * sizeof(*sites));
		threads = malloc((v.n_threads + 1) * sizeof(*threads));
		tags = malloc((v.n_tags + 1) * sizeof(*tags));
		if (sites && threads && tags) {
			memcpy(sites, cur->sites, v.n_sites * sizeof(*sites));
			memcpy(threads, cur->threads, v.n_threads * sizeof(*threads));
			memcpy(tags, cur->tags, v.n_tags * sizeof(*tags));
		}
	}
	urcu_memb_read_unlock();
	if (!cur || !sites || !threads || !tags) {
		snprintf(err, errlen, "no data published yet");
		free(sites);
		free(threads);
		free(tags);
		return -1;
	}
	qsort(sites, v.n_sites, sizeof(*sites), site_id_cmp);
	v.sites = sites;
	v.threads = threads;
	v.tags = tags;
	int rc = -1;
	struct model_walk_filter f = {.kind = MODEL_WALK_ALL, .thread_id = o->thread_id,
				      .stack_id = MODEL_ANY_STACK, .min_age_ns = o->older_than_ns};
	if (o->tag_from && !find_tag(&v, o->tag_from, &f.seq_from)) {
		snprintf(err, errlen, "no tag named '%s' in process %d", o->tag_from, (int)session_pid(s));
		goto out;
	}
	if (o->tag_to && !find_tag(&v, o->tag_to, &f.seq_to)) {
		snprintf(err, errlen, "no tag named '%s' in process %d", o->tag_to, (int)session_pid(s));
		goto out;
	}
	if (o->tag_from && !o->tag_to)
		f.seq_to = UINT64_MAX;
	if (o->tag_to && !o->tag_from)
		f.seq_from = 1;
	struct model_walk *w = model_walk_open(s, &f);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	struct model_suspect_site *groups = NULL;
	size_t ng = walk_group_by_site(w, &groups);
	write_header(out, s, &v);
	if (o->thread_id != MODEL_ANY_THREAD || o->older_than_ns || o->tag_from || o->tag_to) {
		fprintf(out, "filter:");
		if (o->thread_id != MODEL_ANY_THREAD)
			fprintf(out, " thread=%u", o->thread_id);
		if (o->older_than_ns)
			fprintf(out, " older_than_s=%" PRIu64, o->older_than_ns / 1000000000u);
		if (o->tag_from)
			fprintf(out, " from_tag=%s", o->tag_from);
		if (o->tag_to)
			fprintf(out, " to_tag=%s", o->tag_to);
		fputc('\n', out);
		fprintf(out, "selected_bytes: %" PRIu64 "\n", w->total_bytes);
		fprintf(out, "selected_blocks: %zu\n", w->count);
	}
	write_threads(out, &v);
	if (v.n_tags) {
		fprintf(out, "\n## tags\n");
		for (size_t i = 0; i < v.n_tags; i++)
			fprintf(out, "tag %u name=%s seq=%" PRIu64 " age_ms=%" PRIu64 "\n", tags[i].id,
				tags[i].name, tags[i].seq, tags[i].age_ns / 1000000u);
	}
	write_sites(out, s, &v, groups, ng, o);
	snapshot_write_analysis(out, s, &v);
	if (o->blocks)
		write_blocks(out, w);
	if (o->heatmap)
		write_heatmap(out, s, o->divisions);
	char *maps = session_maps_copy(s);
	write_modules(out, maps, v.session.pid);
	fprintf(out, "\n## maps\n");
	if (maps) {
		/* file-backed mappings only: enough to symbolize, nothing secret about anonymous memory */
		for (char *line = maps; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (strchr(line, '/'))
				fprintf(out, "%s\n", line);
			line = nl ? nl + 1 : NULL;
		}
		free(maps);
	}
	fprintf(out, "## end\n");
	free(groups);
	model_walk_free(w);
	rc = ferror(out) ? -1 : 0;
	if (rc)
		snprintf(err, errlen, "write error: %s", strerror(errno));
out:
	free(sites);
	free(threads);
	free(tags);
	session_symbols_put(s, sym);
	return rc;
}

int snapshot_warn_inexact(struct session *s, FILE *err)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	struct model_totals t = v ? v->totals : (struct model_totals){0};
	bool from_start = v && v->session.from_start;
	urcu_memb_read_unlock();
	char why[512];
	size_t n = 0;
	why[0] = '\0';
	if (t.lost_events)
		n += (size_t)snprintf(why + n, sizeof why - n, "%s%" PRIu64 " events lost (%" PRIu64
				      " dropped by the target on a full ring, %" PRIu64 " skipped, %" PRIu64
				      " invalid)", n ? ", " : "", t.lost_events, t.dropped_events,
				      t.skipped_events, t.invalid_events);
	if (t.duplicate_allocs && n < sizeof why)
		n += (size_t)snprintf(why + n, sizeof why - n, "%s%" PRIu64 " duplicate allocations (an "
				      "address allocated again while live: its free was never seen)",
				      n ? ", " : "", t.duplicate_allocs);
	if (from_start && t.unknown_frees && n < sizeof why)
		n += (size_t)snprintf(why + n, sizeof why - n, "%s%" PRIu64 " unknown frees (tracked from "
				      "the start, yet their allocation was never seen)", n ? ", " : "",
				      t.unknown_frees);
	if (!n)
		return 0;
	fprintf(err, "memtop: warning: the live set is approximate: %s\n", why);
	return 1;
}

int model_snapshot_write(struct session *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.symbols_wait_ms = 2000; /* the dashboard's `s` key must not freeze it for long */
	int rc = snapshot_write(s, f, &o, err, errlen);
	if (fclose(f) != 0 && rc == 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc ? -EIO : 0;
}

void model_snapshot_default_path(struct session *s, char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char when[32];
	strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "memtop-%d-%s.txt", (int)session_pid(s), when);
}

/* ---- memtop symbolize ---- */

static char *read_all(FILE *in)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, in);
		if (r == 0)
			break;
		n += r;
	}
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* Parses "  #D ... 0xPC ..." : returns true with the depth and pc. */
static bool parse_frame_line(const char *line, int *depth, uint64_t *pc)
{
	if (strncmp(line, "  #", 3) != 0)
		return false;
	*depth = atoi(line + 3);
	const char *p = line;
	bool found = false;
	/* the raw address is the last token that starts with 0x before an optional module token */
	while ((p = strstr(p, " 0x")) != NULL) {
		char *end;
		unsigned long long v = strtoull(p + 1, &end, 16);
		if (end != p + 3 && (*end == ' ' || *end == '\n' || *end == '\0')) {
			*pc = v;
			found = true;
		}
		p += 3;
	}
	return found;
}

/* The "## modules" section (format 2): the build-id each mapped file had when the snapshot was
 * taken. A format 1 snapshot has none and is symbolized as before, unchecked; so is a "-" module. */
static void symbolize_expect_modules(struct symdb *db, const char *text)
{
	const char *sec = strstr(text, "\n## modules\n");
	if (!sec)
		return;
	for (const char *l = sec + 12; *l && strncmp(l, "## ", 3) != 0;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char line[4096 + BUILDID_HEX_MAX + 8];
		if (strncmp(l, "module ", 7) == 0 && len < sizeof line) {
			memcpy(line, l, len);
			line[len] = '\0';
			char *sp = strchr(line + 7, ' ');
			if (sp) {
				*sp = '\0';
				symdb_expect_build_id(db, sp + 1, line + 7); /* "-" is no id: left unchecked */
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
}

/* The two passes over the snapshot text. A frame group is a physical frame and the inline frames
 * that follow it with the same depth and address. */
struct symbolize_pass {
	struct symdb *db;
	FILE *out;                 /* pass 2 only */
	const char **modules;      /* pass 1: distinct modules of the frames, in order of appearance */
	size_t n_modules, cap_modules;
};

/* A module whose file was not used (another build, or not found): its frames are copied as the
 * snapshot has them, so whatever was resolved when it was taken stays and nothing wrong is added. */
static bool symbolize_keep_raw(struct symdb *db, const struct symdb_frames *fr)
{
	if (!fr)
		return true;
	enum symdb_check c = symdb_module_check(db, fr->module, NULL, NULL, NULL);
	return c == SYMDB_MISMATCH || c == SYMDB_MISSING;
}

static void symbolize_note_module(struct symbolize_pass *p, const char *module)
{
	for (size_t i = 0; i < p->n_modules; i++)
		if (p->modules[i] == module) /* interned */
			return;
	if (p->n_modules == p->cap_modules) {
		size_t nc = p->cap_modules ? p->cap_modules * 2 : 16;
		const char **nm = realloc(p->modules, nc * sizeof(*nm));
		if (!nm)
			return;
		p->modules = nm;
		p->cap_modules = nc;
	}
	p->modules[p->n_modules++] = module;
}

/* Pass 1 (out NULL): resolves every frame (files are opened and checked then) and lists the
 * modules. Pass 2: writes the snapshot with the frames rewritten. */
static void symbolize_pass(struct symbolize_pass *p, char *text)
{
	int last_depth = -1;
	uint64_t last_pc = 0;
	bool copying_group = false;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		int depth = 0;
		uint64_t pc = 0;
		if (!parse_frame_line(line, &depth, &pc)) {
			last_depth = -1;
			if (p->out)
				fprintf(p->out, "%s\n", line);
		} else if (depth == last_depth && pc == last_pc) {
			/* an inline frame of the group: re-expanded below, or kept with its group */
			if (p->out && copying_group)
				fprintf(p->out, "%s\n", line);
		} else {
			last_depth = depth;
			last_pc = pc;
			const struct symdb_frames *fr = symdb_lookup(p->db, pc);
			copying_group = symbolize_keep_raw(p->db, fr);
			if (!p->out) {
				if (fr)
					symbolize_note_module(p, fr->module);
			} else if (copying_group) {
				fprintf(p->out, "%s\n", line);
			} else {
				for (int k = 0; k < fr->n; k++) {
					struct model_frame f = {.pc = pc, .module = fr->module,
								.module_off = fr->module_off,
								.func = fr->f[k].func, .file = fr->f[k].file,
								.line = fr->f[k].line, .inlined = k < fr->n - 1};
					print_frame(p->out, depth, &f);
				}
			}
		}
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

/* One warning per module whose files all have another build-id. Returns -1 (with err) when no
 * module of the frames could be used at all while some differ: nothing in the output would be
 * new, and the user has the wrong files. */
static int symbolize_check_modules(const struct symbolize_pass *p, FILE *warn, char *err, size_t errlen)
{
	size_t usable = 0, differ = 0;
	const char *first_differ = NULL;
	for (size_t i = 0; i < p->n_modules; i++) {
		enum symdb_check c = symdb_module_check(p->db, p->modules[i], NULL, NULL, NULL);
		usable += c == SYMDB_MATCH || c == SYMDB_UNVERIFIED;
		if (c == SYMDB_MISMATCH && differ++ == 0)
			first_differ = p->modules[i];
	}
	if (differ && !usable) {
		snprintf(err, errlen, "no module's file has the build-id the snapshot recorded (%zu differ, "
			 "first %s): give the files of the build the snapshot was taken of (--sysroot DIR)",
			 differ, first_differ);
		return -1;
	}
	for (size_t i = 0; warn && i < p->n_modules; i++) {
		const char *expected, *found_hex, *found_path;
		if (symdb_module_check(p->db, p->modules[i], &expected, &found_hex, &found_path) !=
		    SYMDB_MISMATCH)
			continue;
		fprintf(warn, "memtop: symbolize: %s: build-id differs from the snapshot's (snapshot %s, "
			"%s has %s); its frames are left unresolved\n", p->modules[i], expected,
			found_path, found_hex[0] ? found_hex : "none");
	}
	return 0;
}

int snapshot_symbolize(FILE *in, FILE *out, FILE *warn, const char *sysroot, char *err, size_t errlen)
{
	char *text = read_all(in);
	if (!text) {
		snprintf(err, errlen, "cannot read the snapshot");
		return -1;
	}
	if (strncmp(text, "# memtop snapshot\n", 18) != 0) {
		snprintf(err, errlen, "not a memtop snapshot (no '# memtop snapshot' first line)");
		free(text);
		return -1;
	}
	char *maps = strstr(text, "\n## maps\n");
	if (!maps) {
		snprintf(err, errlen, "the snapshot has no '## maps' section: cannot symbolize it");
		free(text);
		return -1;
	}
	char *maps_body = strdup(maps + 9);
	char *end = maps_body ? strstr(maps_body, "## end") : NULL;
	if (end)
		*end = '\0';
	if (maps_body && !strchr(maps_body, '/')) {
		/* no file mapped: every frame would stay raw, and a silent copy would pass for a result */
		snprintf(err, errlen, "the snapshot's memory map is empty: its addresses cannot be "
			 "symbolized");
		free(maps_body);
		free(text);
		return -1;
	}
	struct symdb *db = maps_body ? symdb_new(maps_body, sysroot, err, errlen) : NULL;
	free(maps_body);
	if (!db) {
		free(text);
		return -1;
	}
	symbolize_expect_modules(db, text);
	struct symbolize_pass p = {.db = db};
	symbolize_pass(&p, text);
	int rc = symbolize_check_modules(&p, warn, err, errlen);
	if (rc == 0) {
		p.out = out;
		symbolize_pass(&p, text);
		rc = ferror(out) ? -1 : 0;
		if (rc)
			snprintf(err, errlen, "write error: %s", strerror(errno));
	}
	free(p.modules);
	symdb_free(db);
	free(text);
	return rc;
}
