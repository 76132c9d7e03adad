/* diff: matches the call sites of two snapshots by their frames, sums sites that read the same,
 * and writes the growth per site (B - A) as text, or as a document of signed deltas for the
 * pprof and folded writers. Never matches by stack id or address: both differ between runs. */
#include "export/diff.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The identity of a site: its frames as names, or module+offset where unresolved ("" for none). */
static char *site_sig(const struct snapdoc *d, const struct snapdoc_site *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return NULL;
	for (size_t k = 0; k < s->n_frames; k++) {
		const struct snapdoc_frame *f = &d->frames[s->first_frame + k];
		if (f->func)
			fprintf(m, "%s\x1f%s\x1f%d\x1f%d\x1e", f->func, f->file ? f->file : "", f->line,
				f->inlined);
		else if (f->module)
			fprintf(m, "%s+0x%" PRIx64 "\x1e", f->module, f->module_off);
		else
			fprintf(m, "0x%" PRIx64 "\x1e", f->pc);
	}
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void site_values(const struct snapdoc_site *s, int64_t v[DIFF_N])
{
	v[DIFF_LIVE_BYTES] = (int64_t)s->live_bytes;
	v[DIFF_LIVE_BLOCKS] = (int64_t)s->live_blocks;
	v[DIFF_ALLOCS] = (int64_t)(s->has_totals ? s->allocs : s->live_blocks);
	v[DIFF_BYTES_ALLOCATED] = (int64_t)(s->has_totals ? s->bytes_allocated : s->live_bytes);
}

static int by_sig(const void *x, const void *y)
{
	const struct diff_entry *a = x, *b = y;
	int c = strcmp(a->sig, b->sig);
	return c ? c : b->from_b - a->from_b; /* B's first: its frames represent the group */
}

static int64_t delta(const struct diff_entry *e, int k)
{
	return e->b[k] - e->a[k];
}

static int by_growth(const void *x, const void *y)
{
	const struct diff_entry *a = x, *b = y;
	for (int k = 0; k < DIFF_N; k++)
		if (delta(a, k) != delta(b, k))
			return delta(a, k) > delta(b, k) ? -1 : 1;
	return strcmp(a->sig, b->sig);
}

/* Every site of A and B as an entry, then one entry per signature (sums), changed ones only. */
static int collect(struct snapdiff *df)
{
	size_t total = df->a->n_sites + df->b->n_sites, n = 0;
	struct diff_entry *e = calloc(total + 1, sizeof(*e));
	if (!e)
		return -1;
	df->e = e;
	for (int side = 0; side < 2; side++) {
		const struct snapdoc *d = side ? df->b : df->a;
		for (size_t i = 0; i < d->n_sites; i++, n++) {
			e[n] = (struct diff_entry){.from_b = side, .site = &d->sites[i], .src = d};
			site_values(&d->sites[i], side ? e[n].b : e[n].a);
			if (!(e[n].sig = site_sig(d, &d->sites[i]))) {
				df->n = n;
				return -1;
			}
		}
	}
	if (n > 1)
		qsort(e, n, sizeof(*e), by_sig);
	size_t out = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		for (; j < n && strcmp(e[j].sig, e[i].sig) == 0; j++) {
			for (int k = 0; k < DIFF_N; k++) {
				e[i].a[k] += e[j].a[k];
				e[i].b[k] += e[j].b[k];
			}
			free(e[j].sig);
		}
		bool changed = false;
		for (int k = 0; k < DIFF_N; k++)
			changed |= delta(&e[i], k) != 0;
		if (changed)
			e[out++] = e[i];
		else
			free(e[i].sig);
		i = j;
	}
	df->n = out;
	if (out > 1)
		qsort(e, out, sizeof(*e), by_growth);
	return 0;
}

/* The deltas as a snapdoc: one site per entry, its frames copied (strings stay A's and B's). */
static int build_doc(struct snapdiff *df)
{
	struct snapdoc *d = &df->doc;
	size_t n_frames = 0;
	for (size_t i = 0; i < df->n; i++)
		n_frames += df->e[i].site->n_frames;
	d->sites = calloc(df->n + 1, sizeof(*d->sites));
	d->frames = calloc(n_frames + 1, sizeof(*d->frames));
	d->site_docs = calloc(df->n + 1, sizeof(*d->site_docs));
	if (!d->sites || !d->frames || !d->site_docs)
		return -1;
	d->is_diff = true;
	d->pid = df->b->pid;
	d->exe = df->b->exe;
	d->command = df->b->command;
	d->time = df->b->time;
	d->uptime_ms = df->b->uptime_ms;
	for (size_t i = 0; i < df->n; i++) {
		const struct diff_entry *e = &df->e[i];
		d->site_docs[d->n_sites] = e->src;
		struct snapdoc_site *s = &d->sites[d->n_sites++];
		*s = (struct snapdoc_site){.id = (uint32_t)i + 1, .has_totals = true,
					   .live_bytes = (uint64_t)delta(e, DIFF_LIVE_BYTES),
					   .live_blocks = (uint64_t)delta(e, DIFF_LIVE_BLOCKS),
					   .allocs = (uint64_t)delta(e, DIFF_ALLOCS),
					   .bytes_allocated = (uint64_t)delta(e, DIFF_BYTES_ALLOCATED),
					   .first_frame = d->n_frames, .n_frames = e->site->n_frames};
		memcpy(d->frames + d->n_frames, e->src->frames + e->site->first_frame,
		       e->site->n_frames * sizeof(*d->frames));
		d->n_frames += e->site->n_frames;
	}
	return 0;
}

struct snapdiff *snapdiff_new(const struct snapdoc *a, const struct snapdoc *b, char *err,
			      size_t errlen)
{
	struct snapdiff *df = calloc(1, sizeof(*df));
	if (df) {
		df->a = a;
		df->b = b;
	}
	if (!df || collect(df) != 0 || build_doc(df) != 0) {
		snprintf(err, errlen, "out of memory");
		snapdiff_free(df);
		return NULL;
	}
	return df;
}

void snapdiff_free(struct snapdiff *df)
{
	if (!df)
		return;
	for (size_t i = 0; i < df->n; i++)
		free(df->e[i].sig);
	free(df->e);
	free(df->doc.sites);
	free(df->doc.frames);
	free(df->doc.site_docs);
	free(df);
}

static void put_frame(FILE *out, int depth, const struct snapdoc_frame *f)
{
	fprintf(out, "  #%d %s", depth, f->func ? f->func : "??");
	if (f->file)
		fprintf(out, " %s:%d", f->file, f->line);
	fprintf(out, "%s 0x%" PRIx64, f->inlined ? " [inlined]" : "", f->pc);
	if (f->module)
		fprintf(out, " %s+0x%" PRIx64 "\n", f->module, f->module_off);
	else
		fputs(" ??\n", out);
}

static void put_total(FILE *out, const char *key, uint64_t a, uint64_t b)
{
	fprintf(out, "%s: %+" PRId64 " (%" PRIu64 " -> %" PRIu64 ")\n", key, (int64_t)(b - a), a, b);
}

int snapdiff_write_text(const struct snapdiff *df, const char *name_a, const char *name_b, FILE *out)
{
	const struct snapdoc *a = df->a, *b = df->b;
	fprintf(out, "# memtop diff\na: %s (pid %d, %s)\nb: %s (pid %d, %s)\n", name_a, a->pid,
		a->time ? a->time : "?", name_b, b->pid, b->time ? b->time : "?");
	put_total(out, "live_bytes", a->live_bytes, b->live_bytes);
	put_total(out, "live_blocks", a->live_blocks, b->live_blocks);
	put_total(out, "allocs", a->allocs, b->allocs);
	put_total(out, "bytes_allocated", a->bytes_allocated, b->bytes_allocated);
	put_total(out, "peak_bytes", a->peak_bytes, b->peak_bytes);
	fprintf(out, "changed_sites: %zu\n\n## sites (growth of live bytes, largest first)\n", df->n);
	for (size_t i = 0; i < df->n; i++) {
		const struct diff_entry *e = &df->e[i];
		fprintf(out, "site %+" PRId64 " bytes %+" PRId64 " blocks (b: %" PRId64 " bytes in %" PRId64
			" blocks, a: %" PRId64 " in %" PRId64 ") allocs %+" PRId64 " bytes_allocated %+"
			PRId64 "%s\n", delta(e, DIFF_LIVE_BYTES), delta(e, DIFF_LIVE_BLOCKS),
			e->b[DIFF_LIVE_BYTES], e->b[DIFF_LIVE_BLOCKS], e->a[DIFF_LIVE_BYTES],
			e->a[DIFF_LIVE_BLOCKS], delta(e, DIFF_ALLOCS), delta(e, DIFF_BYTES_ALLOCATED),
			!e->from_b ? " [only in a]" : e->a[DIFF_ALLOCS] || e->a[DIFF_LIVE_BLOCKS] ? "" :
			" [new in b]");
		int depth = 0;
		for (size_t k = 0; k < e->site->n_frames; k++) {
			const struct snapdoc_frame *f = &e->src->frames[e->site->first_frame + k];
			put_frame(out, depth, f);
			depth += !f->inlined;
		}
		if (!e->site->n_frames)
			fputs("  (no stack)\n", out);
	}
	fputs("## end\n", out);
	return ferror(out) ? -1 : 0;
}
