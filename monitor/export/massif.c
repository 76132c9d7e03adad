/* massif: a snapshot in valgrind massif's massif.out format (ms_print, massif-visualizer): a first
 * empty snapshot at time 0, the peak, and the end with its detailed tree of call sites. Only what
 * the text holds: when the peak is above the end, its total is exact but the sites live then are
 * not in a snapshot, and its tree says so in one node instead of guessing. */
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
	qsort(n->kids, n->n_kids, sizeof(*n->kids), by_bytes_desc);
	for (size_t i = 0; i < n->n_kids; i++)
		put_node(out, n->kids[i], depth + 1);
}

static void put_snapshot(FILE *out, int num, uint64_t time_ms, uint64_t bytes, const char *tree)
{
	fprintf(out, "#-----------\nsnapshot=%d\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
		"\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n", num, time_ms, bytes, tree);
}

/* The detailed tree of the live sites: allocation point first, callers below. */
static int put_live_tree(FILE *out, const struct snapdoc *d)
{
	struct massif_node root = {0};
	int rc = 0;
	for (size_t i = 0; i < d->n_sites && !rc; i++) {
		const struct snapdoc_site *s = &d->sites[i];
		if (!s->live_bytes)
			continue;
		root.bytes += s->live_bytes;
		struct massif_node *n = &root;
		for (size_t k = 0; k < s->n_frames && k < MASSIF_MAX_DEPTH && n; k++) {
			n = child(n, &d->frames[s->first_frame + k]);
			if (n)
				n->bytes += s->live_bytes;
		}
		rc = n ? 0 : -1;
	}
	fprintf(out, "n%zu: %" PRIu64 " (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n",
		root.n_kids, root.bytes);
	qsort(root.kids, root.n_kids, sizeof(*root.kids), by_bytes_desc);
	for (size_t i = 0; i < root.n_kids; i++)
		put_node(out, root.kids[i], 1);
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
	if (d->peak_bytes > d->live_bytes) {
		/* its time is not in the snapshot either: at or before the end, drawn at the end */
		put_snapshot(out, num++, d->uptime_ms, d->peak_bytes, "peak");
		fprintf(out, "n1: %" PRIu64 " (heap allocation functions) malloc/new/new[], --alloc-fns, "
			"etc.\n n0: %" PRIu64 " 0x0: (call sites at the peak: not recorded in a memtop "
			"snapshot) (in \?\?\?)\n", d->peak_bytes, d->peak_bytes);
		put_snapshot(out, num++, d->uptime_ms, d->live_bytes, "detailed");
	} else {
		put_snapshot(out, num++, d->uptime_ms, d->live_bytes, "peak");
	}
	rc = put_live_tree(out, d);
	return rc || ferror(out) ? -1 : 0;
}
