/* e2e driver for the engine: runs the `phases` target under the real preload through the session API
 * and checks the incremental walk, mark/unmark, expiry (leak suspects), tags (blocks between two
 * tags) and the heatmap (per-mapping sums == live bytes) with exact numbers.
 * usage: driver PHASES_EXE PRELOAD_SO.  Prints TAP. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "session/session.h"
#include "export/snapshot.h"
#include "symbols/symbols.h"

static int test_no, failed;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++test_no);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		failed++;
	fflush(stdout);
}

static void touch(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Waits until a published view has at least n tags (tag events follow the allocations). */
static bool wait_tags(struct session *s, size_t n)
{
	for (int i = 0; i < 1000; i++) {
		model_request_publish(s);
		usleep(10000);
		urcu_memb_read_lock();
		const struct model_view *v = model_view_get(s);
		bool done = v && v->n_tags >= n;
		urcu_memb_read_unlock();
		if (done)
			return true;
	}
	return false;
}

static void view_copy(struct session *s, struct model_view *out)
{
	model_request_publish(s);
	usleep(30000);
	urcu_memb_read_lock();
	*out = *model_view_get(s);
	out->sites = NULL;
	out->threads = NULL;
	out->tags = NULL;
	urcu_memb_read_unlock();
}

static const char *site_func(struct session *s, uint32_t stack_id)
{
	struct model_frame f[256];
	int n = model_site_stack(s, stack_id, f, 256);
	for (int i = 0; i < n; i++)
		if (f[i].func && strncmp(f[i].func, "site_", 5) == 0)
			return f[i].func;
	return "?";
}

static void check_walk_since_mark(struct session *s)
{
	struct model_walk_filter f = {.kind = MODEL_WALK_SINCE_MARK, .thread_id = MODEL_ANY_THREAD,
				      .stack_id = MODEL_ANY_STACK};
	struct model_walk *w = model_walk_open(s, &f);
	size_t n33 = 0, nbig = 0, other = 0;
	for (size_t i = 0; i < w->count; i++) {
		if (w->blocks[i].size == 33 && !strcmp(site_func(s, w->blocks[i].stack_id), "site_second"))
			n33++;
		else if (w->blocks[i].size == (1u << 20) &&
			 !strcmp(site_func(s, w->blocks[i].stack_id), "site_big"))
			nbig++;
		else
			other++;
	}
	ok(w->count == 10 && n33 == 7 && nbig == 3 && other == 0,
	   "incremental walk after mark: %zu blocks (%zu of 33 B at site_second, %zu of 1 MiB at "
	   "site_big, %zu other), expected 10 = 7 + 3", w->count, n33, nbig, other);
	const struct model_block *rows;
	size_t got = model_walk_page(w, 8, 5, &rows);
	ok(got == 2 && rows == w->blocks + 8, "paged walk: offset 8 limit 5 gives %zu rows", got);
	ok(model_walk_page(w, 10, 5, &rows) == 0, "paged walk past the end is empty");
	model_walk_free(w);
}

static void check_suspects(struct session *s)
{
	struct model_suspects *r = model_suspects_compute(s, 1000000000ull);
	uint64_t first_blocks = 0, first_bytes = 0, second = 0;
	for (size_t i = 0; i < r->n_sites; i++) {
		const char *fn = site_func(s, r->sites[i].stack_id);
		if (!strcmp(fn, "site_first")) {
			first_blocks += r->sites[i].blocks;
			first_bytes += r->sites[i].bytes;
		} else if (!strcmp(fn, "site_second") || !strcmp(fn, "site_big")) {
			second += r->sites[i].blocks;
		}
	}
	ok(first_blocks == 100 && first_bytes == 4000 && second == 0,
	   "expire 1 s: site_first has %lu blocks / %lu bytes older than 1 s (expected 100 / 4000), "
	   "younger sites listed: %lu", (unsigned long)first_blocks, (unsigned long)first_bytes,
	   (unsigned long)second);
	model_suspects_free(r);
}

static void check_heatmap(struct session *s)
{
	struct model_view v;
	view_copy(s, &v);
	struct model_maps *m = model_maps_compute(s, 32);
	uint64_t total = 0;
	bool sums_ok = true;
	for (size_t i = 0; i < m->n_rows; i++) {
		uint64_t sum = 0;
		for (uint32_t d = 0; d < m->rows[i].divisions; d++)
			sum += m->rows[i].heat_bytes[d];
		if (sum != m->rows[i].heap_bytes)
			sums_ok = false;
		total += m->rows[i].heap_bytes;
	}
	ok(sums_ok, "heatmap: every mapping's divisions sum to its heap bytes (%zu mappings)", m->n_rows);
	ok(total == v.totals.live_bytes, "heatmap: heap bytes over all mappings %lu == live bytes %lu",
	   (unsigned long)total, (unsigned long)v.totals.live_bytes);
	ok(m->pagemap_readable, "pagemap readable (as root, same user)");
	model_maps_free(m);
}

static void check_tags(struct session *s)
{
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.tag_from = "t1";
	o.tag_to = "t2";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char err[256];
	int rc = snapshot_write(s, f, &o, err, sizeof err);
	fclose(f);
	ok(rc == 0 && strstr(buf, "\nselected_bytes: 231\n") && strstr(buf, "\nselected_blocks: 7\n"),
	   "tags: blocks between t1 and t2 are the 7 x 33 bytes of site_second");
	free(buf);
	o.tag_from = "t2";
	o.tag_to = "t3";
	f = open_memstream(&buf, &len);
	rc = snapshot_write(s, f, &o, err, sizeof err);
	fclose(f);
	ok(rc == 0 && strstr(buf, "\nselected_bytes: 3145728\n"), "tags: between t2 and t3: 3 x 1 MiB");
	free(buf);
	o.tag_from = "nosuchtag";
	f = open_memstream(&buf, &len);
	rc = snapshot_write(s, f, &o, err, sizeof err);
	fclose(f);
	ok(rc != 0 && strstr(err, "no tag named 'nosuchtag'"), "unknown tag: %s", err);
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: driver PHASES_EXE PRELOAD_SO\n");
		return 2;
	}
	urcu_memb_register_thread();
	char dir[] = "/tmp/memtop-e2e-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	char *args[] = {argv[1], dir, NULL};
	char err[512];
	struct session *s = session_run(args, argv[2], NULL, err, sizeof err);
	if (!s || session_start(s, err, sizeof err)) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	ok(wait_tags(s, 1), "phase 1 seen (tag t1)");
	usleep(1200000); /* age phase 1 past the 1 s expiry */
	model_mark_all(s);
	struct model_view v;
	view_copy(s, &v);
	ok(v.marked && v.since_mark_blocks == 0, "mark: since-mark counters reset (%lu blocks)",
	   (unsigned long)v.since_mark_blocks);
	touch(dir, "go1");
	ok(wait_tags(s, 3), "phase 2 seen (tags t2, t3)");
	for (int i = 0; i < 2000 && !exists(dir, "p2"); i++)
		usleep(1000);
	struct symbols *sym = session_symbols_get(s);
	if (sym)
		symbols_wait_idle(sym, 10000);
	session_symbols_put(s, sym);
	view_copy(s, &v);
	ok(v.since_mark_blocks == 10 && v.since_mark_bytes == 7 * 33 + 3 * (1u << 20),
	   "view since mark: %lu blocks, %lu bytes", (unsigned long)v.since_mark_blocks,
	   (unsigned long)v.since_mark_bytes);
	check_walk_since_mark(s);
	check_suspects(s);
	check_heatmap(s);
	check_tags(s);
	model_unmark(s);
	view_copy(s, &v);
	struct model_walk_filter f = {.kind = MODEL_WALK_SINCE_MARK, .thread_id = MODEL_ANY_THREAD,
				      .stack_id = MODEL_ANY_STACK};
	struct model_walk *w = model_walk_open(s, &f);
	ok(!v.marked && w->count == v.totals.live_blocks && v.since_mark_blocks == v.totals.live_blocks,
	   "unmark: the incremental walk shows all %lu live blocks (walk %zu)",
	   (unsigned long)v.totals.live_blocks, w->count);
	model_walk_free(w);
	touch(dir, "go2");
	session_wait_finished(s);
	view_copy(s, &v);
	ok(v.session.state == MODEL_STATE_EXITED && v.session.exit_status == 0,
	   "target exited with status 0, final state kept");
	ok(v.totals.lost_events == 0, "no lost events");
	session_destroy(s);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	printf("1..%d\n", test_no);
	urcu_memb_unregister_thread();
	return failed ? 1 : 0;
}
