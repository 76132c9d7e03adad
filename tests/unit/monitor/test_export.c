/* Unit tests of the export formats made from a text snapshot: the snapshot reader (frames with
 * spaces in names, inline frames, unknown modules, damaged lines named by number), the pprof
 * encoder decoded field by field (sample types, values, inline lines, mappings with build ids),
 * folded stacks and the massif trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"

static const char snap_text[] =
	"# memtop snapshot\n"
	"format_version: 2\n"
	"pid: 77\n"
	"exe: /opt/app\n"
	"command: /opt/app --run\n"
	"time: 2026-01-02T03:04:05Z\n"
	"uptime_ms: 1500\n"
	"live_bytes: 1192\n"
	"live_blocks: 13\n"
	"peak_bytes: 9000\n"
	"\n## threads\nthread 0 tid=77 name=app live_bytes=1192\n"
	"\n## sites\n"
	"site 1: 1000 bytes in 10 blocks (allocs=12 frees=2 bytes_allocated=1200)\n"
	"  #0 operator new(unsigned long) /src/new.cc:5 0x1100 /opt/app+0x100\n"
	"  #1 main /src/main.c:9 0x1200 /opt/app+0x200\n"
	"site 3: 192 bytes in 3 blocks (allocs=3 frees=0 bytes_allocated=192)\n"
	"  #0 inl_alloc /src/main.c:20 [inlined] 0x1300 /opt/app+0x300\n"
	"  #0 inl_user /src/main.c:30 0x1300 /opt/app+0x300\n"
	"  #1 main /src/main.c:10 0x1210 /opt/app+0x210\n"
	"site 2: 0 bytes in 0 blocks (allocs=5 frees=5 bytes_allocated=5000)\n"
	"  #0 ?? 0x7000 /lib/libx.so+0x1000\n"
	"  #1 ?? 0x9999 ??\n"
	"site 4: 0 bytes in 0 blocks (allocs=0 frees=0 bytes_allocated=0)\n"
	"  (no stack)\n"
	"\n## modules\n"
	"module abcdef0123 /opt/app\n"
	"module - /lib/libx.so\n"
	"\n## maps\n"
	"00001000-00002000 r-xp 00001000 fe:00 12 /opt/app\n"
	"00006000-00008000 r-xp 00000000 fe:00 13 /lib/libx.so\n"
	"## end\n";

static struct snapdoc *doc(const char *text)
{
	char err[256] = "";
	struct snapdoc *d = snapdoc_parse(strdup(text), err, sizeof err);
	if (!d)
		print_message("snapdoc: %s\n", err);
	return d;
}

static void test_snapdoc_reads_frames(void **state)
{
	(void)state;
	struct snapdoc *d = doc(snap_text);
	assert_non_null(d);
	assert_int_equal(d->pid, 77);
	assert_int_equal(d->peak_bytes, 9000);
	assert_int_equal(d->uptime_ms, 1500);
	assert_int_equal(d->n_sites, 4);
	assert_int_equal(d->n_frames, 7);
	const struct snapdoc_frame *f = &d->frames[0];
	assert_string_equal(f->func, "operator new(unsigned long)");
	assert_string_equal(f->file, "/src/new.cc");
	assert_int_equal(f->line, 5);
	assert_int_equal(f->pc, 0x1100);
	assert_string_equal(f->module, "/opt/app");
	assert_int_equal(f->module_off, 0x100);
	assert_true(d->frames[2].inlined);
	assert_false(d->frames[3].inlined);
	assert_null(d->frames[5].func);
	assert_null(d->frames[5].file);
	assert_string_equal(d->frames[5].module, "/lib/libx.so");
	assert_null(d->frames[6].module);
	assert_int_equal(d->sites[1].n_frames, 3);
	assert_int_equal(d->sites[2].bytes_allocated, 5000);
	assert_int_equal(d->sites[3].n_frames, 0);
	assert_string_equal(snapdoc_build_id(d, "/opt/app"), "abcdef0123");
	assert_null(snapdoc_build_id(d, "/lib/libx.so"));
	assert_non_null(snapdoc_map_of(d, 0x1fff));
	assert_null(snapdoc_map_of(d, 0x2000));
	assert_string_equal(snapdoc_map_of(d, 0x7000)->path, "/lib/libx.so");
	snapdoc_free(d);
}

static void test_snapdoc_rejects_damage(void **state)
{
	(void)state;
	char err[256];
	char *bad = strdup(snap_text);
	memcpy(strstr(bad, "  #1 main"), "  #x", 4);
	assert_null(snapdoc_parse(bad, err, sizeof err));
	assert_non_null(strstr(err, "line 18 "));
	char *cut = strdup(snap_text);
	*strstr(cut, "## end") = '\0';
	assert_null(snapdoc_parse(cut, err, sizeof err));
	assert_non_null(strstr(err, "cut short"));
	assert_null(snapdoc_parse(strdup("hello\n"), err, sizeof err));
}

/* ---- a small profile.proto reader over pbw_next */

struct pb_msg {
	const uint8_t *p;
	size_t len;
};

/* every field `field` of m: varints into vals (also unpacked), messages into msgs */
static size_t pb_all(struct pb_msg m, uint32_t field, uint64_t *vals, struct pb_msg *msgs, size_t max)
{
	size_t pos = 0, n = 0, dlen;
	uint32_t f;
	int wire;
	uint64_t v;
	const uint8_t *data;
	while (pos < m.len) {
		assert_true(pbw_next(m.p, m.len, &pos, &f, &wire, &v, &data, &dlen));
		if (f != field)
			continue;
		if (wire == 0 && vals && n < max) {
			vals[n++] = v;
		} else if (wire == 2 && msgs && n < max) {
			msgs[n++] = (struct pb_msg){data, dlen};
		} else if (wire == 2 && vals) { /* packed */
			size_t p2 = 0;
			while (p2 < dlen && n < max) {
				uint64_t x = 0;
				for (unsigned shift = 0;; shift += 7) {
					x |= (uint64_t)(data[p2] & 0x7f) << shift;
					if (!(data[p2++] & 0x80))
						break;
				}
				vals[n++] = x;
			}
		}
	}
	return n;
}

static uint64_t pb_one(struct pb_msg m, uint32_t field)
{
	uint64_t v = 0;
	pb_all(m, field, &v, NULL, 1);
	return v;
}

struct decoded {
	struct pb_msg strs[64], samples[8], locs[16], funcs[16], maps[8], types[4];
	size_t n_strs, n_samples, n_locs, n_funcs, n_maps, n_types;
	char str[64][64];
};

static void decode(struct pb_msg top, struct decoded *d)
{
	d->n_strs = pb_all(top, 6, NULL, d->strs, 64);
	for (size_t i = 0; i < d->n_strs; i++)
		snprintf(d->str[i], sizeof d->str[i], "%.*s", (int)d->strs[i].len, d->strs[i].p);
	d->n_types = pb_all(top, 1, NULL, d->types, 4);
	d->n_samples = pb_all(top, 2, NULL, d->samples, 8);
	d->n_locs = pb_all(top, 4, NULL, d->locs, 16);
	d->n_funcs = pb_all(top, 5, NULL, d->funcs, 16);
	d->n_maps = pb_all(top, 3, NULL, d->maps, 8);
}

static const char *func_name(struct decoded *d, uint64_t id)
{
	for (size_t i = 0; i < d->n_funcs; i++)
		if (pb_one(d->funcs[i], 1) == id)
			return d->str[pb_one(d->funcs[i], 2)];
	return NULL;
}

static struct pb_msg *location(struct decoded *d, uint64_t id)
{
	for (size_t i = 0; i < d->n_locs; i++)
		if (pb_one(d->locs[i], 1) == id)
			return &d->locs[i];
	return NULL;
}

static void test_pprof_decodes(void **state)
{
	(void)state;
	struct snapdoc *sd = doc(snap_text);
	struct pbw out = {0};
	assert_int_equal(pprof_encode(sd, &out), 0);
	struct decoded *d = calloc(1, sizeof(*d));
	decode((struct pb_msg){out.data, out.len}, d);
	assert_string_equal(d->str[0], "");
	static const char *const types[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
						{"inuse_objects", "count"}, {"inuse_space", "bytes"}};
	assert_int_equal(d->n_types, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(d->str[pb_one(d->types[i], 1)], types[i][0]);
		assert_string_equal(d->str[pb_one(d->types[i], 2)], types[i][1]);
	}
	assert_string_equal(d->str[pb_one((struct pb_msg){out.data, out.len}, 14)], "inuse_space");
	assert_int_equal(d->n_samples, 4);
	static const uint64_t want[4][4] = {{12, 1200, 10, 1000}, {3, 192, 3, 192}, {5, 5000, 0, 0},
					     {0, 0, 0, 0}};
	for (int i = 0; i < 4; i++) {
		uint64_t v[8];
		assert_int_equal(pb_all(d->samples[i], 2, v, NULL, 8), 4);
		assert_memory_equal(v, want[i], sizeof want[i]);
	}
	/* site 3: two locations, the first with the inline frame then its caller */
	uint64_t locs[8];
	assert_int_equal(pb_all(d->samples[1], 1, locs, NULL, 8), 2);
	struct pb_msg *l = location(d, locs[0]);
	assert_non_null(l);
	assert_int_equal(pb_one(*l, 3), 0x1300);
	struct pb_msg lines[4];
	assert_int_equal(pb_all(*l, 4, NULL, lines, 4), 2);
	assert_string_equal(func_name(d, pb_one(lines[0], 1)), "inl_alloc");
	assert_int_equal(pb_one(lines[0], 2), 20);
	assert_string_equal(func_name(d, pb_one(lines[1], 1)), "inl_user");
	/* site 1's main and site 3's main are two pcs: two locations, one function */
	assert_int_equal(d->n_locs, 7);
	assert_int_equal(d->n_funcs, 7);
	/* mappings: the app's with its build id, libx's with none; the ?? frame has none */
	assert_int_equal(d->n_maps, 2);
	struct pb_msg *app = &d->maps[0];
	assert_string_equal(d->str[pb_one(*app, 5)], "/opt/app");
	assert_string_equal(d->str[pb_one(*app, 6)], "abcdef0123");
	assert_int_equal(pb_one(*app, 2), 0x1000);
	assert_int_equal(pb_one(*app, 3), 0x2000);
	assert_int_equal(pb_one(*app, 4), 0x1000);
	assert_int_equal(pb_one(d->maps[1], 6), 0);
	assert_string_equal(func_name(d, 5), "/lib/libx.so+0x1000");
	assert_string_equal(func_name(d, 7), "[no stack]");
	free(d);
	pbw_free(&out);
	snapdoc_free(sd);
}

static char *capture(const struct snapdoc *d, enum export_format f, enum export_value v)
{
	char *buf = NULL, err[128];
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	struct export_options o = {.format = f, .value = v};
	assert_int_equal(export_write(d, &o, mem, err, sizeof err), 0);
	fclose(mem);
	return buf;
}

static void test_folded(void **state)
{
	(void)state;
	struct snapdoc *d = doc(snap_text);
	char *live = capture(d, EXPORT_FOLDED, EXPORT_LIVE_BYTES);
	assert_string_equal(live, "main;operator new(unsigned long) 1000\n"
				  "main;inl_user;inl_alloc 192\n");
	char *allocs = capture(d, EXPORT_FOLDED, EXPORT_ALLOCS);
	assert_string_equal(allocs, "main;operator new(unsigned long) 12\n"
				    "main;inl_user;inl_alloc 3\n"
				    "0x9999;/lib/libx.so+0x1000 5\n");
	free(live);
	free(allocs);
	snapdoc_free(d);
}

/* "## timeline" lines with max= and min= (and without: old snapshots); massif draws each point
 * with its bucket's max, so a spike between two points is in the graph. */
static void test_timeline_max(void **state)
{
	(void)state;
	static const char tail[] = "\n## timeline\nstep_ms: 1\nat 0: 100 max=50100 min=100\n"
				   "at 50: 100\n## end\n";
	char text[sizeof snap_text + sizeof tail];
	snprintf(text, sizeof text, "%.*s%s", (int)(sizeof snap_text - sizeof "## end\n"), snap_text,
		 tail);
	struct snapdoc *d = doc(text);
	assert_non_null(d);
	assert_int_equal(d->n_timeline, 2);
	assert_int_equal(d->timeline_bytes[0], 100);
	assert_int_equal(d->timeline_max[0], 50100);
	assert_int_equal(d->timeline_max[1], 100);
	char *m = capture(d, EXPORT_MASSIF, 0);
	assert_non_null(strstr(m, "snapshot=1\n#-----------\ntime=0\nmem_heap_B=50100\n"));
	assert_non_null(strstr(m, "snapshot=2\n#-----------\ntime=50\nmem_heap_B=100\n"));
	free(m);
	snapdoc_free(d);
	/* a max below the point's value, or a max without a min, is damage */
	char err[256];
	static const char *const bad[] = {"at 0: 100 max=99 min=100\n", "at 0: 100 max=200\n",
					  "at 0: 100 max=200 min=101\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "%.*s\n## timeline\n%s## end\n",
			 (int)(sizeof snap_text - sizeof "## end\n"), snap_text, bad[i]);
		assert_null(snapdoc_parse(strdup(text), err, sizeof err));
	}
}

static void test_massif(void **state)
{
	(void)state;
	struct snapdoc *d = doc(snap_text);
	char *m = capture(d, EXPORT_MASSIF, 0);
	assert_non_null(strstr(m, "cmd: /opt/app --run\ntime_unit: ms\n"));
	assert_non_null(strstr(m, "snapshot=1\n#-----------\ntime=1500\nmem_heap_B=9000\n"));
	assert_non_null(strstr(m, "heap_tree=peak\n"));
	assert_non_null(strstr(m, "snapshot=2\n#-----------\ntime=1500\nmem_heap_B=1192\n"));
	assert_non_null(strstr(m, "n2: 1192 (heap allocation functions) malloc/new/new[], --alloc-fns, "
				  "etc.\n n1: 1000 0x1100: operator new(unsigned long) (/src/new.cc:5)\n"
				  "  n0: 1000 0x1200: main (/src/main.c:9)\n n1: 192 0x1300: inl_alloc "
				  "(/src/main.c:20)\n  n1: 192 0x1300: inl_user (/src/main.c:30)\n"));
	free(m);
	snapdoc_free(d);
}

static void test_pbw_negative_and_malformed(void **state)
{
	(void)state;
	struct pbw b = {0};
	pbw_int(&b, 2, -1);
	assert_int_equal(b.len, 11); /* tag + ten bytes */
	size_t pos = 0, dlen;
	uint32_t f;
	int wire;
	uint64_t v;
	const uint8_t *data;
	assert_true(pbw_next(b.data, b.len, &pos, &f, &wire, &v, &data, &dlen));
	assert_int_equal((int64_t)v, -1);
	pbw_reset(&b);
	pbw_string(&b, 6, "abc");
	b.len--; /* cut: the length says 3, 2 are there */
	pos = 0;
	assert_false(pbw_next(b.data, b.len, &pos, &f, &wire, &v, &data, &dlen));
	pbw_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapdoc_reads_frames),
		cmocka_unit_test(test_snapdoc_rejects_damage),
		cmocka_unit_test(test_pprof_decodes),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_massif),
		cmocka_unit_test(test_timeline_max),
		cmocka_unit_test(test_pbw_negative_and_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
