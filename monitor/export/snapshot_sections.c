/* snapshot_sections: writes each section of the text snapshot (docs/snapshot-format.md): header
 * keys, threads, tags, call sites with frames, blocks, heatmap, modules, maps. Writes only what it
 * is given; never takes the RCU read lock. The header keys live_bytes, live_blocks, allocs, frees,
 * peak_bytes, lost_events are a contract: never rename. */
#include "export/snapshot_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memtop/segment.h"
#include "symbols/buildid.h"

const char *snapshot_state_name(enum model_state st)
{
	switch (st) {
	case MODEL_STATE_STARTING: return "starting";
	case MODEL_STATE_RUNNING: return "running";
	case MODEL_STATE_EXITED: return "exited";
	case MODEL_STATE_CRASHED: return "crashed";
	}
	return "unknown";
}

void snapshot_print_frame(FILE *out, int depth, const struct model_frame *f)
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
		snapshot_print_frame(out, depth, &frames[i]);
		printed++;
		if (!frames[i].inlined)
			depth++;
	}
}

/* Header values are one line each: control characters (a command line may hold newlines) are
 * written as spaces so that no value can forge another key. */
void snapshot_utc(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(realtime_ns / 1000000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Format 3: the target's live table, and whether the figures are estimates from its samples. */
static void write_live_table(FILE *out, const struct model_session_info *m)
{
	static const char *const names[] = {"off", "sampled", "exact"};
	fprintf(out, "live_table: %s\n", m->live_mode < 3 ? names[m->live_mode] : "off");
	fprintf(out, "seeded_blocks: %" PRIu64 "\n", m->seeded_blocks);
	fprintf(out, "live_table_overflow: %" PRIu64 "\n", m->live_overflow);
	if (m->estimated && m->sample_bytes % 1024)
		fprintf(out, "estimate: estimated from samples, 1 per %" PRIu64 " bytes\n",
			m->sample_bytes);
	else if (m->estimated)
		fprintf(out, "estimate: estimated from samples, 1 per %" PRIu64 " KiB\n",
			m->sample_bytes >> 10);
	if (m->reader)
		fprintf(out, "reader: 1\n");
}

static void put_line_value(FILE *out, const char *key, const char *val)
{
	fprintf(out, "%s: ", key);
	for (const unsigned char *p = (const unsigned char *)val; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	fputc('\n', out);
}

void snapshot_write_header(FILE *out, const struct model_view *v)
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
	fprintf(out, "state: %s\n", snapshot_state_name(v->session.state));
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
	if (v->session.injected_at_ns) { /* only then, so that other snapshots keep their format */
		char at[64];
		snapshot_utc(v->session.injected_at_ns, at, sizeof at);
		fprintf(out, "attached: by injection at %s\n", at);
	}
	fprintf(out, "uptime_ms: %" PRIu64 "\n", v->session.uptime_ns / 1000000u);
	fprintf(out, "from_start: %d\n", v->session.from_start ? 1 : 0);
	write_live_table(out, &v->session);
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
}

void snapshot_write_threads(FILE *out, const struct model_view *v)
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

void snapshot_write_tags(FILE *out, const struct model_view *v)
{
	if (!v->n_tags)
		return;
	fprintf(out, "\n## tags\n");
	for (size_t i = 0; i < v->n_tags; i++)
		fprintf(out, "tag %u name=%s seq=%" PRIu64 " age_ms=%" PRIu64 "\n", v->tags[i].id,
			v->tags[i].name, v->tags[i].seq, v->tags[i].age_ns / 1000000u);
}

static int site_id_cmp(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

void snapshot_sort_sites_by_id(struct model_site *sites, size_t n)
{
	if (n > 1)
		qsort(sites, n, sizeof(*sites), site_id_cmp);
}

/* v->sites sorted by snapshot_sort_sites_by_id (a private copy), so lookups are O(log n). */
static const struct model_site *view_site(const struct model_view *v, uint32_t id)
{
	struct model_site key = {.stack_id = id};
	return bsearch(&key, v->sites, v->n_sites, sizeof(key), site_id_cmp);
}

void snapshot_write_sites(FILE *out, struct session *s, const struct model_view *v,
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
		if (g[i].estimated) /* format 3: sums of weighted samples */
			fputs(" estimated", out);
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

void snapshot_write_blocks(FILE *out, const struct model_walk *w)
{
	fprintf(out, "\n## blocks\n");
	for (size_t i = 0; i < w->count; i++) {
		const struct model_block *b = &w->blocks[i];
		fprintf(out, "block 0x%" PRIx64 " size=%" PRIu64 " thread=%u age_ms=%" PRIu64
			" stack=%u realloc=%d seq=%" PRIu64 "\n", b->addr, b->size, b->thread_id,
			b->age_ns / 1000000u, b->stack_id, b->from_realloc ? 1 : 0, b->seq);
	}
}

void snapshot_write_heatmap(FILE *out, struct session *s, uint32_t divisions)
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
void snapshot_write_modules(FILE *out, const char *maps, pid_t pid)
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

/* File-backed mappings only: enough to symbolize, nothing secret about anonymous memory. maps is
 * cut into lines in place. */
void snapshot_write_maps(FILE *out, char *maps)
{
	fprintf(out, "\n## maps\n");
	for (char *line = maps; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strchr(line, '/'))
			fprintf(out, "%s\n", line);
		line = nl ? nl + 1 : NULL;
	}
}
