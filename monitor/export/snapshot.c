/* snapshot: memtop's text snapshot of a session (docs/snapshot-format.md): copies what it needs
 * of the published view, selects the blocks, and has snapshot_sections.c write each section; the
 * dashboard's `s` key and the approximate-figures warning. Never holds the RCU read lock across
 * I/O. */
#include "export/snapshot_internal.h"
#include "export/analysis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

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

/* What a snapshot reads of the published view: a private copy, so that no I/O happens under the
 * RCU read lock and the view may be replaced meanwhile. */
struct snapshot_copy {
	struct model_view v;
	struct model_site *sites;
	struct model_thread *threads;
	struct model_tag *tags;
};

static void copy_free(struct snapshot_copy *c)
{
	free(c->sites);
	free(c->threads);
	free(c->tags);
}

/* Copies the view under the read lock, its sites sorted by stack id. -1 with err when nothing is
 * published yet (or out of memory). */
static int copy_view(struct session *s, struct snapshot_copy *c, char *err, size_t errlen)
{
	urcu_memb_read_lock();
	const struct model_view *cur = model_view_get(s);
	if (cur) {
		c->v = *cur;
		c->sites = malloc((c->v.n_sites + 1) * sizeof(*c->sites));
		c->threads = malloc((c->v.n_threads + 1) * sizeof(*c->threads));
		c->tags = malloc((c->v.n_tags + 1) * sizeof(*c->tags));
		if (c->sites && c->threads && c->tags) {
			memcpy(c->sites, cur->sites, c->v.n_sites * sizeof(*c->sites));
			memcpy(c->threads, cur->threads, c->v.n_threads * sizeof(*c->threads));
			memcpy(c->tags, cur->tags, c->v.n_tags * sizeof(*c->tags));
		}
	}
	urcu_memb_read_unlock();
	if (!cur || !c->sites || !c->threads || !c->tags) {
		snprintf(err, errlen, "no data published yet");
		copy_free(c);
		return -1;
	}
	snapshot_sort_sites_by_id(c->sites, c->v.n_sites);
	c->v.sites = c->sites;
	c->v.threads = c->threads;
	c->v.tags = c->tags;
	return 0;
}

/* The blocks the options select (thread, age, between two tags). -1 with err on an unknown tag. */
static int select_filter(struct session *s, const struct model_view *v,
			 const struct snapshot_options *o, struct model_walk_filter *f, char *err,
			 size_t errlen)
{
	*f = (struct model_walk_filter){.kind = MODEL_WALK_ALL, .thread_id = o->thread_id,
					.stack_id = MODEL_ANY_STACK, .min_age_ns = o->older_than_ns};
	if (o->tag_from && !find_tag(v, o->tag_from, &f->seq_from)) {
		snprintf(err, errlen, "no tag named '%s' in process %d", o->tag_from, (int)session_pid(s));
		return -1;
	}
	if (o->tag_to && !find_tag(v, o->tag_to, &f->seq_to)) {
		snprintf(err, errlen, "no tag named '%s' in process %d", o->tag_to, (int)session_pid(s));
		return -1;
	}
	if (o->tag_from && !o->tag_to)
		f->seq_to = UINT64_MAX;
	if (o->tag_to && !o->tag_from)
		f->seq_from = 1;
	return 0;
}

/* After the header, only when the options select part of the heap: what was selected. */
static void write_filter(FILE *out, const struct snapshot_options *o, const struct model_walk *w)
{
	if (o->thread_id == MODEL_ANY_THREAD && !o->older_than_ns && !o->tag_from && !o->tag_to)
		return;
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

/* Every section in the format's order; the selected blocks are grouped by call site. */
static void write_sections(FILE *out, struct session *s, const struct model_view *v,
			   const struct model_walk *w, const struct snapshot_options *o)
{
	struct model_suspect_site *groups = NULL;
	size_t ng = walk_group_by_site(w, &groups);
	snapshot_write_header(out, v);
	write_filter(out, o, w);
	snapshot_write_threads(out, v);
	snapshot_write_tags(out, v);
	snapshot_write_sites(out, s, v, groups, ng, o);
	snapshot_write_analysis(out, s, v);
	if (o->blocks)
		snapshot_write_blocks(out, w);
	if (o->heatmap)
		snapshot_write_heatmap(out, s, o->divisions);
	char *maps = session_maps_copy(s);
	snapshot_write_modules(out, maps, v->session.pid);
	snapshot_write_maps(out, maps);
	free(maps);
	fprintf(out, "## end\n");
	free(groups);
}

int snapshot_write(struct session *s, FILE *out, const struct snapshot_options *o, char *err,
		   size_t errlen)
{
	struct symbols *sym = session_symbols_get(s); /* replaced at exec: held to the end */
	if (sym)
		symbols_wait_idle(sym, o->symbols_wait_ms);
	struct snapshot_copy c = {0};
	if (copy_view(s, &c, err, errlen) < 0)
		return -1;
	int rc = -1;
	struct model_walk_filter f;
	struct model_walk *w = NULL;
	if (select_filter(s, &c.v, o, &f, err, errlen) < 0)
		goto out;
	w = model_walk_open(s, &f);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	write_sections(out, s, &c.v, w, o);
	model_walk_free(w);
	rc = ferror(out) ? -1 : 0;
	if (rc)
		snprintf(err, errlen, "write error: %s", strerror(errno));
out:
	copy_free(&c);
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
