/* massif: a snapshot in valgrind massif's massif.out format (ms_print, massif-visualizer): a first
 * empty snapshot at time 0, one per point of the timeline ("## timeline"), the peak with the tree
 * of the sites live then ("## peak"), and the end with its tree. Only what the text holds: the peak's time is not in it (drawn at the end), and a
 * snapshot without "## peak" gets one node saying its peak sites are unknown. */
#include "export/export.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* deeper call chains are cut there (bytes stay counted at the last node): bounds the recursion */
#define MASSIF_MAX_DEPTH 1024

struct massif_node {
	const struct snapdoc_frame *frame; /* NULL for the root */
	uint64_t bytes;
	struct massif_node **kids;
	size_t n_kids, cap_kids;
};

static bool same_frame(const struct snapdoc_frame *a, const struct snapdoc_frame *b)
{
	return a->pc == b->pc && a->inlined == b->inlined && a->line == b->line &&
	       (a->func == b->func || (a->func && b->func && strcmp(a->func, b->func) == 0));
}

static struct massif_node *child(struct massif_node *n, const struct snapdoc_frame *f)
{
	for (size_t i = 0; i < n->n_kids; i++)
		if (same_frame(n->kids[i]->frame, f))
			return n->kids[i];
	if (n->n_kids == n->cap_kids) {
		size_t nc = n->cap_kids ? n->cap_kids * 2 : 4;
		struct massif_node **nk = realloc(n->kids, nc * sizeof(*nk));
		if (!nk)
			return NULL;
		n->kids = nk;
		n->cap_kids = nc;
	}
	struct massif_node *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->frame = f;
	n->kids[n->n_kids++] = k;
	return k;
}

static void tree_free(struct massif_node *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		tree_free(n->kids[i]);
	free(n->kids);
	if (n->frame)
		free(n);
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct massif_node *x = *(struct massif_node *const *)a, *y = *(struct massif_node *const *)b;
	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

static void put_node(FILE *out, const struct massif_node *n, int depth)
{
	fprintf(out, "%*sn%zu: %" PRIu64 " ", depth, "", n->n_kids, n->bytes);
	const struct snapdoc_frame *f = n->frame;
	fprintf(out, "0x%" PRIX64 ": ", f->pc);
	if (f->func)
		for (const char *p = f->func; *p; p++)
			fputc((unsigned char)*p < 0x20 ? ' ' : *p, out);
	else
		fputs("???", out);
	if (f->file)
		fprintf(out, " (%s:%d)\n", f->file, f->line);
	else
		fprintf(out, " (in %s)\n", f->module ? f->module : "\?\?\?");
	if (n->n_kids > 1) /* qsort's base may not be NULL, even for no element */
		qsort(n->kids, n->n_kids, sizeof(*n->kids), by_bytes_desc);
	for (size_t i = 0; i < n->n_kids; i++)
		put_node(out, n->kids[i], depth + 1);
}

static void put_snapshot(FILE *out, int num, uint64_t time_ms, uint64_t bytes, const char *tree)
{
	fprintf(out, "#-----------\nsnapshot=%d\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
		"\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n", num, time_ms, bytes, tree);
}

static uint64_t site_bytes(const struct snapdoc_site *s, bool at_peak)
{
	return at_peak ? s->peak_bytes : s->live_bytes;
}

/* The detailed tree of the sites live at the end (or at the peak): allocation point first,
 * callers below. unlisted: bytes of sites whose frames the snapshot does not hold. */
static int put_tree(FILE *out, const struct snapdoc *d, bool at_peak, uint64_t unlisted)
{
	struct massif_node root = {0};
	int rc = 0;
	for (size_t i = 0; i < d->n_sites && !rc; i++) {
		const struct snapdoc_site *s = &d->sites[i];
		uint64_t bytes = site_bytes(s, at_peak);
		if (!bytes)
			continue;
		root.bytes += bytes;
		struct massif_node *n = &root;
		for (size_t k = 0; k < s->n_frames && k < MASSIF_MAX_DEPTH && n; k++) {
			n = child(n, &d->frames[s->first_frame + k]);
			if (n)
				n->bytes += bytes;
		}
		rc = n ? 0 : -1;
	}
	fprintf(out, "n%zu: %" PRIu64 " (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n",
		root.n_kids + (unlisted != 0), root.bytes + unlisted);
	if (root.n_kids > 1)
		qsort(root.kids, root.n_kids, sizeof(*root.kids), by_bytes_desc);
	for (size_t i = 0; i < root.n_kids; i++)
		put_node(out, root.kids[i], 1);
	if (unlisted)
		fprintf(out, " n0: %" PRIu64 " 0x0: (sites not in this snapshot: take it with --all-sites) "
			"(in \?\?\?)\n", unlisted);
	tree_free(&root);
	return rc;
}

int massif_write(const struct snapdoc *d, FILE *out)
{
	fprintf(out, "desc: memtop %s snapshot of pid %d\n", MEMTOP_VERSION, d->pid);
	fputs("cmd: ", out);
	for (const char *p = d->command ? d->command : d->exe ? d->exe : "?"; *p; p++)
		fputc((unsigned char)*p < 0x20 ? ' ' : *p, out);
	fputs("\ntime_unit: ms\n", out);
	put_snapshot(out, 0, 0, 0, "empty");
	int num = 1, rc = 0;
	/* the engine's timeline (from the first event): one plain snapshot per point, with the most
	 * its bucket reached (a spike between two points stays in the graph) */
	uint64_t end_ms = d->uptime_ms;
	for (size_t i = 0; i < d->n_timeline; i++) {
		put_snapshot(out, num++, d->timeline_ms[i], d->timeline_max[i], "empty");
		if (d->timeline_ms[i] > end_ms) /* uptime counts from another start: never go back */
			end_ms = d->timeline_ms[i];
	}
	if (d->peak_bytes > d->live_bytes) {
		/* its time is not in the snapshot: at or before the end, drawn at the end */
		put_snapshot(out, num++, end_ms, d->peak_bytes, "peak");
		if (d->has_peak_sites) {
			rc = put_tree(out, d, true, d->peak_unlisted);
		} else { /* a snapshot older than the "## peak" section */
			fprintf(out, "n1: %" PRIu64 " (heap allocation functions) malloc/new/new[], "
				"--alloc-fns, etc.\n n0: %" PRIu64 " 0x0: (call sites at the peak: not "
				"recorded in this snapshot) (in \?\?\?)\n", d->peak_bytes, d->peak_bytes);
		}
		put_snapshot(out, num++, end_ms, d->live_bytes, "detailed");
	} else {
		put_snapshot(out, num++, end_ms, d->live_bytes, "peak");
	}
	rc |= put_tree(out, d, false, 0);
	return rc || ferror(out) ? -1 : 0;
}
