/* analysis: writes "## peak", "## temporary", "## calls", "## sizes" and "## timeline" from the
 * figures the engine keeps per event (peak attribution, temporary counts, size buckets, live bytes
 * over time): no replay, no guess.
 * Sites are named by id (their frames are in "## sites", all of them with --all-sites) and by
 * their top frame, so each line also reads alone. */
#include "export/analysis.h"

#include "session/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* the site's first frame as the stacks show it now (the view's may predate its symbols) */
static void put_top(FILE *out, struct session *ses, const struct model_site *s)
{
	struct model_frame f = s->top;
	if (model_site_stack(ses, s->stack_id, &f, 1) < 1)
		f = s->top;
	fputs(" at ", out);
	if (!f.func) {
		fprintf(out, "0x%" PRIx64 "\n", f.pc);
		return;
	}
	for (const char *p = f.func; *p; p++)
		fputc((unsigned char)*p < 0x20 ? ' ' : *p, out);
	fputc('\n', out);
}

static int by_peak(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static int by_temporary(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->temporary != y->temporary)
		return x->temporary > y->temporary ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static int by_calls(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->allocs != y->allocs)
		return x->allocs > y->allocs ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

/* bucket 0: size 0; k >= 1: [2^(k-1), 2^k) */
static void write_sizes(FILE *out, const struct model_totals *t)
{
	fprintf(out, "\n## sizes\n");
	for (int k = 0; k < MODEL_SIZE_BUCKETS; k++) {
		if (!t->size_hist[k])
			continue;
		uint64_t lo = k ? 1ull << (k - 1) : 0;
		uint64_t hi = k == 0 ? 0 : k == 64 ? UINT64_MAX : (1ull << k) - 1;
		fprintf(out, "size %" PRIu64 "-%" PRIu64 ": %" PRIu64 "\n", lo, hi, t->size_hist[k]);
	}
}

void snapshot_write_analysis(FILE *out, struct session *ses, const struct model_view *v)
{
	size_t n = v->n_sites;
	struct model_site *s = malloc((n + 1) * sizeof(*s));
	if (!s)
		return; /* the sections are extras: the snapshot stays whole without them */
	memcpy(s, v->sites, n * sizeof(*s));
	fprintf(out, "\n## peak\n"); /* sums to the header's peak_bytes */
	if (n > 1)
		qsort(s, n, sizeof(*s), by_peak);
	for (size_t i = 0; i < n && s[i].peak_bytes; i++) {
		fprintf(out, "peak %u: %" PRIu64 " bytes in %" PRIu64 " blocks", s[i].stack_id,
			s[i].peak_bytes, s[i].peak_blocks);
		put_top(out, ses, &s[i]);
	}
	fprintf(out, "\n## temporary\ntemporary_allocs: %" PRIu64 " of %" PRIu64 "\n",
		v->totals.temporary_allocs, v->totals.allocs);
	if (n > 1)
		qsort(s, n, sizeof(*s), by_temporary);
	for (size_t i = 0; i < n && s[i].temporary; i++) {
		fprintf(out, "temporary %u: %" PRIu64 " of %" PRIu64 " allocations", s[i].stack_id,
			s[i].temporary, s[i].allocs);
		put_top(out, ses, &s[i]);
	}
	fprintf(out, "\n## calls\n");
	if (n > 1)
		qsort(s, n, sizeof(*s), by_calls);
	for (size_t i = 0; i < n && s[i].allocs; i++) {
		fprintf(out, "calls %u: %" PRIu64 " allocations of %" PRIu64 " bytes", s[i].stack_id,
			s[i].allocs, s[i].bytes_allocated);
		put_top(out, ses, &s[i]);
	}
	write_sizes(out, &v->totals);
	const struct model_timeline *tl = &v->timeline;
	fprintf(out, "\n## timeline\nstep_ms: %u\n", tl->step_ms);
	for (uint32_t i = 0; i < tl->n && i < MODEL_TIMELINE_MAX; i++)
		fprintf(out, "at %u: %" PRIu64 " max=%" PRIu64 " min=%" PRIu64 "\n", tl->t_ms[i],
			tl->live_bytes[i], tl->max_bytes[i], tl->min_bytes[i]);
	free(s);
}
