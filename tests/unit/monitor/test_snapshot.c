/* Unit tests of the snapshot text: the contract header keys (present once, plain integers), call
 * sites sorted by live bytes with valgrind's "N bytes in M blocks" wording, deterministic output,
 * offline symbolization of raw addresses through the MAPS section, and the build-ids of the
 * MODULES section (format 2): a module whose file has another build-id is never resolved. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbols/buildid.h"
#include "session/session_internal.h"
#include "export/snapshot.h"
#include "symbols/symbols.h"

static struct session *fake_session(void)
{
	struct session *s = calloc(1, sizeof(*s));
	session_default_options(&s->opt);
	s->state = MODEL_STATE_RUNNING;
	s->pid = 4242;
	snprintf(s->exe, sizeof s->exe, "/usr/bin/fake");
	snprintf(s->command, sizeof s->command, "fake --flag");
	engine_init(&s->eng, 4, 100);
	struct memtop_event ev[] = {
		{.type = MEMTOP_EV_MALLOC, .stack_id = 1, .addr = 0x1000, .size = 100},
		{.type = MEMTOP_EV_MALLOC, .stack_id = 1, .addr = 0x2000, .size = 100},
		{.type = MEMTOP_EV_MALLOC, .stack_id = 2, .addr = 0x3000, .size = 5000},
		{.type = MEMTOP_EV_MALLOC, .stack_id = 3, .addr = 0x4000, .size = 7},
		{.type = MEMTOP_EV_FREE, .stack_id = 0, .addr = 0x4000},
		{.type = MEMTOP_EV_CALLOC, .stack_id = 3, .addr = 0x5000, .size = 300, .thread_slot = 1},
	};
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, ev, sizeof ev / sizeof ev[0]);
	urcu_memb_read_unlock();
	engine_batch_end(&s->eng);
	session_publish_view(s, 1);
	return s;
}

static void free_session(struct session *s)
{
	urcu_memb_barrier();
	view_free_all(s);
	engine_destroy(&s->eng);
	free(s->slot_generation);
	free(s);
}

static char *snapshot_text(struct session *s, const struct snapshot_options *o)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(snapshot_write(s, f, o, err, sizeof err), 0);
	fclose(f);
	return buf;
}

static int count_lines_starting(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);
	for (const char *l = text; l; l = strchr(l, '\n')) {
		if (*l == '\n')
			l++;
		if (strncmp(l, prefix, pl) == 0)
			n++;
		if (!*l)
			break;
	}
	return n;
}

static void test_header_keys(void **state)
{
	(void)state;
	struct session *s = fake_session();
	struct snapshot_options o;
	snapshot_default_options(&o);
	char *t = snapshot_text(s, &o);
	assert_memory_equal(t, "# memtop snapshot\nformat_version: 3\n", 35);
	const char *keys[] = {"live_bytes: 5500\n", "live_blocks: 4\n", "allocs: 5\n", "frees: 1\n",
			      "peak_bytes: 5500\n", "lost_events: 0\n"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char k[32];
		snprintf(k, sizeof k, "\n%s", keys[i]);
		assert_non_null(strstr(t, k));
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)(strchr(keys[i], ':') - keys[i] + 1), keys[i]);
		assert_int_equal(count_lines_starting(t, name), 1);
	}
	/* sites by live bytes: 5000 (site 2), 300 (site 3), 200 (site 1) */
	const char *a = strstr(t, "site 2: 5000 bytes in 1 blocks");
	const char *b = strstr(t, "site 3: 300 bytes in 1 blocks");
	const char *c = strstr(t, "site 1: 200 bytes in 2 blocks");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	assert_non_null(strstr(t, "(allocs=2 frees=1 bytes_allocated=307)"));
	assert_non_null(strstr(t, "\n## threads\nthread 0 "));
	assert_non_null(strstr(t, "\n## end\n"));
	free(t);
	free_session(s);
}

/* Removes the lines that legitimately change between two snapshots of the same state. */
static void strip_times(char *t)
{
	const char *drop[] = {"time: ", "uptime_ms: ", "monitor_bytes: ", "overhead_bytes: "};
	char *out = t;
	for (char *l = t; *l;) {
		char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l + 1) : strlen(l);
		bool keep = true;
		for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
			if (strncmp(l, drop[i], strlen(drop[i])) == 0)
				keep = false;
		if (keep) {
			memmove(out, l, len);
			out += len;
		}
		l += len;
	}
	*out = '\0';
}

static void test_deterministic_with_blocks(void **state)
{
	(void)state;
	struct session *s = fake_session();
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.blocks = true;
	char *t1 = snapshot_text(s, &o), *t2 = snapshot_text(s, &o);
	strip_times(t1);
	strip_times(t2);
	/* ages may tick between the two: compare without age_ms values */
	for (char *p = t1; (p = strstr(p, "age_ms=")); p++)
		for (char *q = p + 7; *q >= '0' && *q <= '9'; q++)
			*q = '0';
	for (char *p = t2; (p = strstr(p, "age_ms=")); p++)
		for (char *q = p + 7; *q >= '0' && *q <= '9'; q++)
			*q = '0';
	assert_string_equal(t1, t2);
	/* blocks in allocation order */
	const char *b1 = strstr(t1, "block 0x1000 size=100");
	const char *b5 = strstr(t1, "block 0x5000 size=300 thread=1");
	assert_non_null(b1);
	assert_non_null(b5);
	assert_true(b1 < b5);
	assert_null(strstr(t1, "block 0x4000"));
	free(t1);
	free(t2);
	free_session(s);
}

static void test_thread_filter(void **state)
{
	(void)state;
	struct session *s = fake_session();
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.thread_id = 1;
	char *t = snapshot_text(s, &o);
	assert_non_null(strstr(t, "\nselected_bytes: 300\nselected_blocks: 1\n"));
	assert_null(strstr(t, "site 2:"));
	free(t);
	free_session(s);
}

/* The heatmap section against this very process: blocks at real heap addresses of the test. */
static void test_heatmap_section_sums(void **state)
{
	(void)state;
	struct session *s = calloc(1, sizeof(*s));
	session_default_options(&s->opt);
	s->state = MODEL_STATE_RUNNING;
	s->pid = getpid();
	engine_init(&s->eng, 4, 100);
	void *mem[40];
	struct memtop_event ev[40];
	/* an anonymous mapping of our own holds two "blocks", the rest come from malloc ([heap]) */
	char *region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	region[0] = 1;
	for (int i = 0; i < 40; i++) {
		size_t sz = i < 38 ? 100 + 10 * (size_t)i : 100000;
		mem[i] = i < 38 ? malloc(sz) : region + (i - 38) * (512 << 10);
		ev[i] = (struct memtop_event){.type = MEMTOP_EV_MALLOC, .stack_id = 1 + (uint32_t)(i % 3),
					      .addr = (uint64_t)(uintptr_t)mem[i], .size = sz};
	}
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, ev, 40);
	urcu_memb_read_unlock();
	engine_batch_end(&s->eng);
	session_publish_view(s, 1);
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.heatmap = true;
	o.divisions = 16;
	char *t = snapshot_text(s, &o);
	const char *sec = strstr(t, "\n## heatmap\n");
	assert_non_null(sec);
	uint64_t total = 0;
	int rows = 0;
	for (const char *m = sec; (m = strstr(m, "\nmap ")) != NULL; m++) {
		const char *hb = strstr(m, " heap_bytes=");
		unsigned long long heap = strtoull(hb + 12, NULL, 10);
		const char *heat = strstr(m, "\n  heat:");
		assert_non_null(heat);
		unsigned long long sum = 0;
		int parts = 0;
		char *p = (char *)heat + 8; /* after "\n  heat:" */
		while (*p == ' ') {
			sum += strtoull(p, &p, 10);
			parts++;
		}
		assert_int_equal(parts, 16);
		assert_int_equal(sum, heap);
		total += heap;
		rows++;
	}
	assert_true(rows >= 2); /* [heap] and our anonymous region */
	assert_non_null(strstr(sec, " heap_bytes=200000 heap_blocks=2 "));
	assert_int_equal(total, s->eng.live_bytes);
	free(t);
	for (int i = 0; i < 38; i++)
		free(mem[i]);
	munmap(region, 1 << 20);
	free_session(s);
}

/* external and noinline, so that its name in the symbol table is exactly this (no .isra clone) */
int symbolize_me(int x);
__attribute__((noinline)) int symbolize_me(int x)
{
	return x * 3 + 1;
}

static void test_symbolize_offline(void **state)
{
	(void)state;
	char *maps = symbols_read_maps(getpid());
	assert_non_null(maps);
	uint64_t pc = (uint64_t)(uintptr_t)&symbolize_me + 4; /* a "return address" inside it */
	char *in_text = NULL;
	size_t len = 0;
	FILE *in = open_memstream(&in_text, &len);
	fprintf(in, "# memtop snapshot\nformat_version: 1\nlive_bytes: 1\n\n## sites\n"
		    "site 1: 1 bytes in 1 blocks\n  #0 ?? 0x%lx ??\n\n## maps\n%s## end\n",
		(unsigned long)pc, maps);
	fclose(in);
	FILE *inf = fmemopen(in_text, len, "r");
	char *out_text = NULL;
	size_t olen = 0;
	FILE *out = open_memstream(&out_text, &olen);
	char err[256];
	assert_int_equal(snapshot_symbolize(inf, out, NULL, NULL, err, sizeof err), 0);
	fclose(inf);
	fclose(out);
	assert_non_null(strstr(out_text, "  #0 symbolize_me "));
	assert_non_null(strstr(out_text, "test_snapshot.c:"));
	assert_non_null(strstr(out_text, "test_monitor_snapshot+0x"));
	free(out_text);
	free(in_text);
	free(maps);
}

/* Applies events to a fake session and publishes a view with them. */
static void apply_and_publish(struct session *s, const struct memtop_event *ev, size_t n)
{
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, ev, n);
	urcu_memb_read_unlock();
	engine_batch_end(&s->eng);
	session_publish_view(s, 2);
}

/* A forged duplicate allocation (an address allocated again while live: a free was never seen) is in
 * the header and makes the live set approximate; so does an unknown free when tracking started with
 * the process, but not after a late attach (blocks from before it). The warning names each count. */
static void test_inexact_counts_in_header(void **state)
{
	(void)state;
	struct session *s = fake_session();
	struct snapshot_options o;
	snapshot_default_options(&o);
	char *t = snapshot_text(s, &o);
	assert_non_null(strstr(t, "\nduplicate_allocs: 0\n"));
	assert_non_null(strstr(t, "\napproximate: 0\n"));
	free(t);
	struct memtop_event dup = {.type = MEMTOP_EV_MALLOC, .stack_id = 2, .addr = 0x1000, .size = 64};
	apply_and_publish(s, &dup, 1);
	t = snapshot_text(s, &o);
	assert_non_null(strstr(t, "\nduplicate_allocs: 1\n"));
	assert_non_null(strstr(t, "\napproximate: 1\n"));
	assert_non_null(strstr(t, "\nlost_events: 0\n"));
	assert_int_equal(count_lines_starting(t, "duplicate_allocs:"), 1);
	free(t);
	char *warn = NULL;
	size_t wlen = 0;
	FILE *w = open_memstream(&warn, &wlen);
	assert_int_equal(snapshot_warn_inexact(s, w), 1);
	fclose(w);
	assert_non_null(strstr(warn, "memtop: warning: the live set is approximate: 1 duplicate allocations"));
	assert_non_null(strchr(warn, '\n'));
	assert_ptr_equal(strchr(warn, '\n'), warn + strlen(warn) - 1); /* one line */
	free(warn);
	free_session(s);

	/* an unknown free: inexact only when tracked from the start */
	struct memtop_event unknown = {.type = MEMTOP_EV_FREE, .addr = 0x9999000};
	s = fake_session();
	apply_and_publish(s, &unknown, 1);
	t = snapshot_text(s, &o);
	assert_non_null(strstr(t, "\nunknown_frees: 1\n"));
	assert_non_null(strstr(t, "\napproximate: 0\n"));
	free(t);
	free_session(s);
	s = fake_session();
	s->from_start = true;
	apply_and_publish(s, &unknown, 1);
	t = snapshot_text(s, &o);
	assert_non_null(strstr(t, "\napproximate: 1\n"));
	free(t);
	free_session(s);
}

/* The path of the libc this test runs with, from its maps. */
static void libc_path(char *buf, size_t len)
{
	char *maps = symbols_read_maps(getpid());
	assert_non_null(maps);
	const char *lc = strstr(maps, "/libc.so.6\n");
	assert_non_null(lc);
	const char *start = lc;
	while (start > maps && start[-1] != ' ')
		start--;
	snprintf(buf, len, "%.*s", (int)(lc + 10 - start), start);
	free(maps);
}

/* Symbolizes a two-frame snapshot (symbolize_me in this program, then strtoul in libc) whose
 * modules section gives this program's build-id as exe_id and libc's as libc_id (NULL: no
 * modules section, format 1). Returns snapshot_symbolize's result; out and warn are malloc'ed. */
static int symbolize_two_frames(const char *exe_id, const char *libc_id, char **out_text,
				char **warn_text)
{
	char *maps = symbols_read_maps(getpid());
	assert_non_null(maps);
	char exe[4096], libc[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	libc_path(libc, sizeof libc);
	uint64_t pc1 = (uint64_t)(uintptr_t)&symbolize_me + 4;
	uint64_t pc2 = (uint64_t)(uintptr_t)&strtoul + 4;
	char *in_text = NULL;
	size_t len = 0;
	FILE *in = open_memstream(&in_text, &len);
	fprintf(in, "# memtop snapshot\nformat_version: %d\nlive_bytes: 1\n\n## sites\n"
		    "site 1: 1 bytes in 1 blocks\n  #0 ?? 0x%lx ??\n  #1 ?? 0x%lx ??\n",
		exe_id ? 2 : 1, (unsigned long)pc1, (unsigned long)pc2);
	if (exe_id)
		fprintf(in, "\n## modules\nmodule %s %s\nmodule %s %s\n", exe_id, exe, libc_id, libc);
	fprintf(in, "\n## maps\n%s## end\n", maps);
	fclose(in);
	FILE *inf = fmemopen(in_text, len, "r");
	size_t olen = 0, wlen = 0;
	FILE *out = open_memstream(out_text, &olen), *warn = open_memstream(warn_text, &wlen);
	char err[512] = "";
	int rc = snapshot_symbolize(inf, out, warn, NULL, err, sizeof err);
	if (rc)
		fprintf(warn, "error: %s\n", err);
	fclose(inf);
	fclose(out);
	fclose(warn);
	free(in_text);
	free(maps);
	return rc;
}

static void test_symbolize_build_ids(void **state)
{
	(void)state;
	char self_id[BUILDID_HEX_MAX], libc_id[BUILDID_HEX_MAX];
	assert_true(buildid_of_path("/proc/self/exe", self_id));
	assert_true(buildid_valid_hex(self_id));
	char libc[4096];
	libc_path(libc, sizeof libc);
	assert_true(buildid_of_path(libc, libc_id));
	char *out, *warn;
	/* the right ids: both frames resolved, no warning */
	assert_int_equal(symbolize_two_frames(self_id, libc_id, &out, &warn), 0);
	assert_non_null(strstr(out, "  #0 symbolize_me "));
	assert_null(strstr(out, "  #1 ?? "));
	assert_string_equal(warn, "");
	free(out);
	free(warn);
	/* another build of this program: its frame stays raw, libc's is resolved, one warning */
	assert_int_equal(symbolize_two_frames("00112233445566778899", libc_id, &out, &warn), 0);
	assert_non_null(strstr(out, "  #0 ?? 0x"));
	assert_null(strstr(out, "symbolize_me"));
	assert_null(strstr(out, "  #1 ?? "));
	assert_non_null(strstr(warn, ": build-id differs from the snapshot's (snapshot 00112233445566778899, "));
	assert_non_null(strstr(warn, "; its frames are left unresolved\n"));
	assert_ptr_equal(strchr(warn, '\n'), warn + strlen(warn) - 1); /* one line */
	free(out);
	free(warn);
	/* nothing matches: refused with one line, nothing written */
	assert_int_equal(symbolize_two_frames("00112233445566778899", "aabb", &out, &warn), -1);
	assert_string_equal(out, "");
	assert_non_null(strstr(warn, "error: no module's file has the build-id the snapshot recorded (2 differ"));
	free(out);
	free(warn);
	/* "-" (no id recorded) and format 1 (no modules section): resolved unchecked, as before */
	assert_int_equal(symbolize_two_frames("-", "-", &out, &warn), 0);
	assert_non_null(strstr(out, "  #0 symbolize_me "));
	assert_string_equal(warn, "");
	free(out);
	free(warn);
	assert_int_equal(symbolize_two_frames(NULL, NULL, &out, &warn), 0);
	assert_non_null(strstr(out, "  #0 symbolize_me "));
	assert_string_equal(warn, "");
	free(out);
	free(warn);
}

static void test_buildid_helpers(void **state)
{
	(void)state;
	char path[256], hex[BUILDID_HEX_MAX];
	assert_true(buildid_debug_path("/sys root", "abcdef0123", path, sizeof path));
	assert_string_equal(path, "/sys root/usr/lib/debug/.build-id/ab/cdef0123.debug");
	assert_true(buildid_debug_path(NULL, "abcd", path, sizeof path));
	assert_string_equal(path, "/usr/lib/debug/.build-id/ab/cd.debug");
	assert_false(buildid_debug_path(NULL, "../x", path, sizeof path)); /* never a path of the input */
	assert_false(buildid_valid_hex("-"));
	assert_false(buildid_valid_hex("abc"));
	assert_false(buildid_valid_hex("ABCD"));
	assert_false(buildid_of_path("/proc/self/maps", hex)); /* not a regular file */
	char tmp[] = "/tmp/memtop-test-buildid-XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	static const char not_elf[] = "\177ELF, but only text\n";
	assert_int_equal(write(fd, not_elf, sizeof not_elf - 1), (ssize_t)sizeof not_elf - 1);
	close(fd);
	assert_false(buildid_of_path(tmp, hex)); /* not ELF */
	assert_string_equal(hex, "");
	unlink(tmp);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_keys),
		cmocka_unit_test(test_inexact_counts_in_header),
		cmocka_unit_test(test_deterministic_with_blocks),
		cmocka_unit_test(test_thread_filter),
		cmocka_unit_test(test_symbolize_offline),
		cmocka_unit_test(test_symbolize_build_ids),
		cmocka_unit_test(test_buildid_helpers),
		cmocka_unit_test(test_heatmap_section_sums),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
